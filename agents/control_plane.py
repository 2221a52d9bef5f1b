"""The agent's HTTP client for the control plane (stdlib only).

An agent holds no database credentials: registration, heartbeats, taking a
unit of work, fetching its media and reporting its results all go through the
control plane's API, over TLS verified against the system's CAs or the bundle
given (``--ca-bundle``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMEOUT_S = 30
CHUNK = 1024 * 1024
# Answers that mean "here, but cannot serve now" (its database or broker is down, the
# proxy in front cannot reach it): worth retrying, after its Retry-After when it says.
UNAVAILABLE = (502, 503, 504)
# A Retry-After is waited out up to this long: an agent checks again sooner than a
# control plane (or a proxy) might ask, and never hangs on a date far ahead.
MAX_RETRY_AFTER_S = 60.0
MIN_WAIT_S = 1.0
# How long registering waits out an unavailable control plane before the agent gives up.
REGISTER_PATIENCE_S = 600.0


class ControlPlaneError(RuntimeError):
    """The control plane refused a request; retrying will not help."""


class Unreachable(ControlPlaneError):
    """The control plane did not answer, or failed to; worth retrying."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        # What its Retry-After asked for, bounded (MAX_RETRY_AFTER_S); None: it did not say.
        self.retry_after_s = retry_after_s


class Unavailable(Unreachable):
    """The control plane answered that it cannot serve now (502, 503, 504)."""


def retry_after_s(header: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header's wait in seconds (a number, or an HTTP date), at most
    MAX_RETRY_AFTER_S; None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        seconds = float(header)
    else:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def wait_s(exc: ControlPlaneError, default_s: float) -> float:
    """How long to wait before calling again after ``exc``: what the control plane
    asked for (Retry-After, bounded), else ``default_s``; never less than
    MIN_WAIT_S, so that "Retry-After: 0" is no busy loop."""
    asked = getattr(exc, "retry_after_s", None)
    return default_s if asked is None else max(asked, MIN_WAIT_S)


def waiting_out(call: Callable[[], T], what: str, patience_s: float,
                default_wait_s: float = 5.0) -> T:
    """Call until the control plane answers with anything but "unavailable"
    (:class:`Unavailable`), waiting between tries as it asks, for ``patience_s`` at
    most; then its last answer is raised. A control plane that does not answer at
    all (a wrong address) fails at once."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return call()
        except Unavailable as exc:
            pause = wait_s(exc, default_wait_s)
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: the control plane is unavailable, again in %.0f s: %s",
                        what, pause, exc)
            time.sleep(pause)


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
                kind = Unavailable if exc.code in UNAVAILABLE else Unreachable
                raise kind(f"{request.full_url}: HTTP {exc.code} {detail}",
                           retry_after_s(exc.headers.get("Retry-After"))) from None
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

        def register() -> dict:
            request = self._request("POST", "/api/v1/agents/register/", report, auth=auth)
            with self._open(request) as response:
                return json.load(response)

        # Agents start with the control plane, or while its database is down: wait.
        body = waiting_out(register, "registering", REGISTER_PATIENCE_S)
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
