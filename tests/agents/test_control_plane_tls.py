"""The agent verifies the control plane's TLS certificate: against the CA
bundle it is given (--ca-bundle), else the system's; a certificate it cannot
verify is a clear refusal, not an outage to wait out."""

from __future__ import annotations

import json
import pickle
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.control_plane import ControlPlane, ControlPlaneError, Unreachable
from tests.broker.certificates import server_files
from tests.rabbitmq_node import TlsFiles


class Answer(BaseHTTPRequestHandler):
    """Stands in for the TLS proxy in front of the control plane."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"gpus": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tls(tmp_path) -> TlsFiles:
    return server_files(tmp_path / "tls")


@pytest.fixture
def https_port(tls: TlsFiles) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_given_ca_bundle_verifies_the_control_plane(tls, https_port):
    client = ControlPlane(f"https://localhost:{https_port}", "credential", ca_bundle=str(tls.ca))
    assert client.heartbeat() == {"gpus": {}}
    # Handed to a spawned worker process after use, it verifies there as well.
    copy = pickle.loads(pickle.dumps(client))
    assert copy.heartbeat() == {"gpus": {}}


def test_a_certificate_the_agent_cannot_verify_is_refused_not_retried(https_port):
    client = ControlPlane(f"https://localhost:{https_port}", "credential")
    with pytest.raises(ControlPlaneError, match="--ca-bundle") as refused:
        client.heartbeat()
    assert not isinstance(refused.value, Unreachable)


def test_a_certificate_for_another_name_is_refused(tls, https_port):
    # The certificate names localhost only: reached by address, the name does not match.
    client = ControlPlane(f"https://127.0.0.1:{https_port}", "credential", ca_bundle=str(tls.ca))
    with pytest.raises(ControlPlaneError, match=r"IP address mismatch|hostname"):
        client.heartbeat()
