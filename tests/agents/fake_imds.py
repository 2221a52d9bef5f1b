"""A fake EC2 instance metadata service speaking IMDSv2's real paths, for the
spot preemption notices: ``PUT /latest/api/token`` (with the TTL header) gives
a session token; ``GET /latest/meta-data/spot/instance-action`` with it answers
404 until a notice is posted, then the notice's JSON. Every path may carry a
host's prefix (``/<host>/latest/...``): one server plays many hosts, and a
notice goes to one of them."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

from tests.providers.fake_server import FakeServer

TOKEN_PATH = "/latest/api/token"
NOTICE_PATH = "/latest/meta-data/spot/instance-action"


class FakeImds(FakeServer):
    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.notices: dict[str, dict] = {}  # by host prefix ("" for none)
        self.polls: dict[str, int] = {}
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_PUT(self) -> None:
                _host, path = split(self.path)
                if path != TOKEN_PATH or not self.headers.get(
                        "X-aws-ec2-metadata-token-ttl-seconds", "").isdigit():
                    return self.answer(400 if path == TOKEN_PATH else 404, b"")
                token = secrets.token_urlsafe(16)
                imds.tokens.add(token)
                self.answer(200, token.encode())

            def do_GET(self) -> None:
                host, path = split(self.path)
                if self.headers.get("X-aws-ec2-metadata-token") not in imds.tokens:
                    return self.answer(401, b"")
                if path != NOTICE_PATH:
                    return self.answer(404, b"")
                imds.polls[host] = imds.polls.get(host, 0) + 1
                notice = imds.notices.get(host)
                if notice is None:
                    return self.answer(404, b"<html>Not Found</html>")
                self.answer(200, json.dumps(notice).encode())

            def answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def preempt(self, host: str = "", in_s: int = 120) -> dict:
        """Post a two-minute notice to ``host`` (a path prefix), as EC2 does."""
        at = (datetime.now(UTC) + timedelta(seconds=in_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.notices[host] = {"action": "terminate", "time": at}
        return self.notices[host]

    def expire_tokens(self) -> None:
        self.tokens.clear()


def split(path: str) -> tuple[str, str]:
    """A request path as (host prefix, IMDS path)."""
    at = path.find("/latest/")
    return path[1:at] if at > 0 else "", path[at:] if at >= 0 else path
