"""A real local webhook receiver, and a staff user with an address to mail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aima_web.access.roles import Role


@dataclass
class Receiver:
    url: str
    posts: list[dict] = field(default_factory=list)  # every POST answered 2xx
    attempts: int = 0
    # Answers for the next POSTs, in order; 204 once they run out.
    answers: list[int] = field(default_factory=list)

    def states(self) -> list[tuple[str, str, str]]:
        return [(p["kind"], p["subject"], p["state"]) for p in self.posts]


@pytest.fixture
def webhook(settings) -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver.attempts += 1
            status = receiver.answers.pop(0) if receiver.answers else 204
            if status < 300:
                receiver.posts.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    settings.AIMA_ALERT_WEBHOOK_URL = receiver.url
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def staff(make_user):
    user = make_user("sam", staff=True, role=Role.OPERATOR)
    user.email = "sam@example.org"
    user.save(update_fields=["email"])
    return user
