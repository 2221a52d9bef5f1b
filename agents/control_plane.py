"""The agent's HTTP client for the control plane (stdlib only).

An agent holds no database credentials: registration, heartbeats, taking a
job and fetching its media all go through the control plane's API.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 30
CHUNK = 1024 * 1024


class ControlPlaneError(RuntimeError):
    """The control plane refused a request; retrying will not help."""


class Unreachable(ControlPlaneError):
    """The control plane did not answer; worth retrying."""


class ChecksumMismatch(ControlPlaneError):
    """What arrived is not what was asked for: never used."""


class JobNotWanted(ControlPlaneError):
    """The job was cancelled or has ended: skip it."""


@dataclass(frozen=True)
class Enrolled:
    agent_id: int
    credential: str
    queues: list[str]
    # The control plane's answer on which GPUs take work now (see Serving).
    answer: dict


class ControlPlane:
    def __init__(self, base_url: str, credential: str = ""):
        self.base_url = base_url.rstrip("/")
        self.credential = credential

    def _request(self, method: str, path: str, body: dict | None = None,
                 auth: str | None = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", auth or f"Agent {self.credential}")
        return request

    def _open(self, request: urllib.request.Request):
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            if exc.code == 409:
                raise JobNotWanted(detail) from None
            if exc.code >= 500:
                raise Unreachable(f"{request.full_url}: HTTP {exc.code} {detail}") from None
            raise ControlPlaneError(f"{request.full_url}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise Unreachable(f"{request.full_url}: {exc}") from None

    def register(self, token: str, report: dict) -> Enrolled:
        request = self._request("POST", "/api/v1/agents/register/", report,
                                auth=f"Bearer {token}")
        with self._open(request) as response:
            body = json.load(response)
        self.credential = body["credential"]
        return Enrolled(agent_id=body["agent_id"], credential=body["credential"],
                        queues=body["queues"], answer={"gpus": body.get("gpus", {})})

    def heartbeat(self, samples: Sequence[dict] = ()) -> dict:
        """Report in with a telemetry sample per GPU (``GpuSample.to_report()``);
        returns the control plane's answer, ``{}`` when it has nothing to say."""
        request = self._request("POST", "/api/v1/agents/heartbeat/", {"gpus": list(samples)})
        with self._open(request) as response:
            body = response.read()
        return json.loads(body) if body.strip() else {}

    def start_job(self, job_id: str, gpu_uuid: str, segment: int = 0,
                  analyses: tuple[str, ...] = ()) -> list[str]:
        """Take the job; return which of ``analyses`` of ``segment`` are still wanted (the
        others' results are stored already: a redelivered message must not redo them)."""
        request = self._request("POST", f"/api/v1/agent-jobs/{job_id}/start/",
                                {"gpu_uuid": gpu_uuid, "segment": segment,
                                 "analyses": list(analyses)})
        with self._open(request) as response:
            answer = json.loads(response.read() or b"{}")
        return list(answer.get("wanted", analyses))

    def download_media(self, job_id: str, target: Path, sha256: str) -> Path:
        """Fetch a job's media to ``target``, refusing it if its checksum differs."""
        return self._download(f"/api/v1/agent-jobs/{job_id}/media/", target, sha256,
                              f"media of job {job_id}")

    def download_model(self, sha256: str, target: Path) -> Path:
        """Fetch a model artifact to ``target``, refusing it if its checksum differs."""
        return self._download(f"/api/v1/agent-models/{sha256}/", target, sha256,
                              f"model artifact {sha256[:12]}")

    def _download(self, path: str, target: Path, sha256: str, what: str) -> Path:
        digest = hashlib.sha256()
        try:
            with self._open(self._request("GET", path)) as response, target.open("wb") as out:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if digest.hexdigest() != sha256:
            target.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{what} arrived with sha256 {digest.hexdigest()}, expected {sha256}: refused")
        return target
