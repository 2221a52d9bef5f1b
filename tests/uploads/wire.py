"""Talking the upload protocol over a real socket to a live server, as a client that
may stop sending in the middle of a request (a dropped connection)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from aima_web.uploads.api import CHUNK_TYPE


class Wire:
    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.auth = {"Authorization": f"Token {token}"}

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=300)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
        conn = self._connection()
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.auth, **({"Content-Type": "application/json"} if data else {})}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else {}

    def offset(self, upload_id: str) -> int:
        status, headers, _ = self.call("HEAD", f"/api/v1/uploads/{upload_id}/")
        assert status == 200
        return int(headers["Upload-Offset"])

    def patch(self, upload_id: str, offset: int, length: int, pieces: Iterable[bytes],
              stop_after: int | None = None) -> tuple[int, dict, dict] | None:
        """PATCH ``length`` bytes from ``pieces`` at ``offset``; with ``stop_after``, close
        the connection once that many are sent, without an answer (None)."""
        conn = self._connection()
        conn.putrequest("PATCH", f"/api/v1/uploads/{upload_id}/")
        for name, value in {**self.auth, "Content-Type": CHUNK_TYPE,
                            "Content-Length": str(length), "Upload-Offset": str(offset)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        sent = 0
        for piece in pieces:
            if stop_after is not None and sent + len(piece) >= stop_after:
                conn.send(piece[:stop_after - sent])
                conn.close()  # the connection drops in the middle of the chunk
                return None
            conn.send(piece)
            sent += len(piece)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else {}
