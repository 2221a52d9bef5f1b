"""The agent's HTTP client for the control plane (stdlib only).

An agent holds no database credentials: registration, heartbeats, taking a
unit of work, fetching its media and reporting its results all go through the
control plane's API, over TLS verified against the system's CAs or the bundle
given (``--ca-bundle``).
"""

from __future__ import annotations

import hashlib
import json
import ssl
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


class Refused(ControlPlaneError):
    """The control plane refused the agent's credential (401) or the request (403)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Enrolled:
    agent_id: int
    credential: str
    # Decided by the control plane from the enrollment token, not by the agent.
    scope: str
    queues: list[str]
    # The control plane's answer on which GPUs take work now (see Serving).
    answer: dict


class ControlPlane:
    def __init__(self, base_url: str, credential: str = "", ca_bundle: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.ca_bundle = ca_bundle
        self._tls: ssl.SSLContext | None = None

    def __getstate__(self) -> dict:
        # Handed to spawned worker processes, which cannot take an SSLContext: each
        # loads the bundle again at its first request.
        return {**self.__dict__, "_tls": None}

    def tls(self) -> ssl.SSLContext | None:
        """The context to verify the control plane with, made once: the bundle given,
        else urllib's default (the system's CAs)."""
        if self.ca_bundle and self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.ca_bundle)
        return self._tls

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
            return urllib.request.urlopen(request, timeout=TIMEOUT_S, context=self.tls())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            if exc.code == 409:
                raise JobNotWanted(detail) from None
            if exc.code >= 500:
                raise Unreachable(f"{request.full_url}: HTTP {exc.code} {detail}") from None
            message = f"{request.full_url}: HTTP {exc.code} {detail}"
            if exc.code in (401, 403):
                raise Refused(message, exc.code) from None
            raise ControlPlaneError(message) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError):
                # Retrying will not make a certificate trustworthy.
                raise ControlPlaneError(
                    f"{request.full_url}: {reason.verify_message or reason}; pass the CA that "
                    "signed the control plane's certificate with --ca-bundle") from None
            raise Unreachable(f"{request.full_url}: {exc}") from None

    def register(self, report: dict, token: str = "") -> Enrolled:
        """Enrol with an enrollment token, or, without one, register again with the
        agent's own credential; either way the agent gets a new credential."""
        auth = f"Bearer {token}" if token else None
        request = self._request("POST", "/api/v1/agents/register/", report, auth=auth)
        with self._open(request) as response:
            body = json.load(response)
        self.credential = body["credential"]
        return Enrolled(agent_id=body["agent_id"], credential=body["credential"],
                        scope=body["scope"], queues=body["queues"],
                        answer={"gpus": body.get("gpus", {})})

    def heartbeat(self, samples: Sequence[dict] = ()) -> dict:
        """Report in with a telemetry sample per GPU (``GpuSample.to_report()``);
        returns the control plane's answer, ``{}`` when it has nothing to say."""
        request = self._request("POST", "/api/v1/agents/heartbeat/", {"gpus": list(samples)})
        with self._open(request) as response:
            body = response.read()
        return json.loads(body) if body.strip() else {}

    def preempted(self, notice: dict) -> dict:
        """Say this host is being preempted (its provider's notice); the answer
        lists the units the control plane took back from this agent."""
        request = self._request("POST", "/api/v1/agents/preempted/", {"notice": notice})
        with self._open(request) as response:
            body = response.read()
        return json.loads(body) if body.strip() else {}

    def start_job(self, job_id: str, gpu_uuid: str, segment: int, analyses: tuple[str, ...],
                  ticket: str) -> list[str]:
        """Take a unit of the job, presenting its ticket; return which of ``analyses``
        of ``segment`` are still wanted (the others' results are stored already: a
        redelivered message must not redo them)."""
        request = self._request("POST", f"/api/v1/agent-jobs/{job_id}/start/",
                                {"gpu_uuid": gpu_uuid, "segment": segment,
                                 "analyses": list(analyses), "ticket": ticket})
        with self._open(request) as response:
            answer = json.loads(response.read() or b"{}")
        return list(answer.get("wanted", analyses))

    def report(self, job_id: str, outcome: dict) -> str | None:
        """Hand in a unit's outcome (``AnalysisOutcome.to_dict()`` with the unit's
        ticket); return the job's state after it, None while parts are missing."""
        request = self._request("POST", f"/api/v1/agent-jobs/{job_id}/results/", outcome)
        with self._open(request) as response:
            answer = json.loads(response.read() or b"{}")
        return answer.get("state")

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
