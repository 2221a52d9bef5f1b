"""A minimal REST client for AIMA's API (stdlib only), for the demo, the
end-to-end tests and the benchmarks."""

from __future__ import annotations

import json
import mimetypes
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from aima_web.jobs.states import TERMINAL

# A polling client may run past the API's rate limit for a while (HTTP 429).
THROTTLED_RETRIES = 10


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class ApiClient:
    base_url: str
    token: str

    def _call(self, method: str, path: str, data: bytes | None = None,
              content_type: str | None = None) -> dict | list:
        request = urllib.request.Request(f"{self.base_url.rstrip('/')}{path}", data=data,
                                         method=method)
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        if content_type:
            request.add_header("Content-Type", content_type)
        for _ in range(THROTTLED_RETRIES):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise ApiError(exc.code, exc.read().decode(errors="replace")) from None
                # Over the API's rate limit: wait as long as it says, then again.
                time.sleep(min(float(exc.headers.get("Retry-After") or 1), 60))
        raise ApiError(429, f"still throttled after {THROTTLED_RETRIES} tries")

    def get(self, path: str) -> dict | list:
        return self._call("GET", path)

    def send(self, method: str, path: str, body: dict | None = None) -> dict | list:
        """POST, PATCH … with a JSON body (or none)."""
        data = None if body is None else json.dumps(body).encode()
        return self._call(method, path, data, "application/json" if data else None)

    def submit(self, media: Path, confidentiality: str = "internal", urgency: str = "normal",
               analyses: list[str] | None = None) -> dict:
        fields = [("confidentiality", confidentiality), ("urgency", urgency)]
        fields += [("analyses", name) for name in analyses or []]
        body, content_type = multipart(fields, "media", media)
        return self._call("POST", "/api/v1/jobs/", body, content_type)

    def wait(self, job_id: str, timeout_s: float = 120) -> dict:
        return self.watch(job_id, timeout_s)[0]

    def watch(self, job_id: str, timeout_s: float = 120,
              every_s: float = 0.2) -> tuple[dict, list[dict]]:
        """Poll the job until it ends: its last body, and each body seen while it ran."""
        deadline = time.monotonic() + timeout_s
        running: list[dict] = []
        while True:
            job = self.get(f"/api/v1/jobs/{job_id}/")
            if job["state"] in TERMINAL:
                return job, running
            if job["state"] == "running":
                running.append(job)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout_s:g} s")
            time.sleep(every_s)


def multipart(fields: list[tuple[str, str]], file_field: str, path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{path.name}"\r\nContent-Type: {mime}\r\n\r\n'.encode())
    parts.append(path.read_bytes())
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
