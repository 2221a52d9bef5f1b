"""A fake of what a GCP VM reaches from inside, for one VM: the metadata server
(``/computeMetadata/v1/...``: ``instance/preempted``, the VM's project, zone
and name, its service account's token) and the Compute API's instance delete
(``DELETE /compute/v1/projects/{p}/zones/{z}/instances/{name}``). As the real
server does, it answers a metadata request only with ``Metadata-Flavor:
Google`` (else 403) and sends that header back; the API takes only a token
the metadata server issued."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from http.server import BaseHTTPRequestHandler

from tests.providers.fake_server import FakeServer

METADATA = "/computeMetadata/v1/"


class FakeGcp(FakeServer):
    def __init__(self, project: str = "aima-test", zone: str = "europe-west4-a",
                 name: str = "aima-gpu-1") -> None:
        self.project, self.zone, self.name = project, zone, name
        self.preempted = False
        self.refuse_delete = False
        self.tokens: set[str] = set()
        self.polls = 0
        # Metadata requests refused for want of the header.
        self.bare = 0
        # (path, Authorization) of each delete the API accepted.
        self.deleted: list[tuple[str, str]] = []
        gcp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if not path.startswith(METADATA):
                    return self.answer(404, b"Not Found")
                if self.headers.get("Metadata-Flavor") != "Google":
                    gcp.bare += 1
                    return self.answer(403, b"Missing Metadata-Flavor:Google header.")
                value = gcp.metadata(path.removeprefix(METADATA))
                if value is None:
                    return self.answer(404, b"Not Found")
                self.answer(200, value.encode())

            def do_DELETE(self) -> None:
                status, body = gcp.delete(self.path, self.headers.get("Authorization", ""))
                self.answer(status, json.dumps(body).encode(), "application/json")

            def answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    @property
    def compute_url(self) -> str:
        """The Compute API's base here (``AIMA_GCP_COMPUTE_URL``)."""
        return f"{self.url}/compute/v1"

    def metadata(self, path: str) -> str | None:
        if path == "instance/preempted":
            self.polls += 1
            return "TRUE" if self.preempted else "FALSE"
        if path == "instance/service-accounts/default/token":
            token = f"ya29.{secrets.token_urlsafe(24)}"
            self.tokens.add(token)
            return json.dumps({"access_token": token, "expires_in": 3599,
                               "token_type": "Bearer"})
        return {"project/project-id": self.project,
                "instance/zone": f"projects/123456789012/zones/{self.zone}",
                "instance/name": self.name}.get(path)

    def delete(self, path: str, authorization: str) -> tuple[int, dict]:
        kind, _, token = authorization.partition(" ")
        if kind != "Bearer" or token not in self.tokens:
            return 401, error(401, "Request had invalid authentication credentials.")
        own = f"/compute/v1/projects/{self.project}/zones/{self.zone}/instances/{self.name}"
        if self.refuse_delete:
            return 403, error(403, f"Required 'compute.instances.delete' permission for "
                                   f"'{own.removeprefix('/compute/v1/')}'")
        if path != own:
            return 404, error(404, f"The resource '{path}' was not found")
        self.deleted.append((path, authorization))
        return 200, {"kind": "compute#operation", "operationType": "delete",
                     "status": "RUNNING", "targetLink": f"https://compute.googleapis.com{own}"}


def error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message, "errors": [{"message": message}]}}
