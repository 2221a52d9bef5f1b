"""A cloud agent that loses its control plane ends its own instance: when, and
through each provider's own mechanism (their APIs played by local fakes)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from agents import self_shutdown
from agents.control_plane import ControlPlane
from agents.runner import AgentConfig, StartupError, enrol_or_end, heartbeat_loop
from agents.self_shutdown import Contact, SelfShutdown
from agents.supervisor import Workers
from agents.worker import AgentContext
from aima_tasks.kernel.instance_env import POWER_OFF_EXIT, ShutdownMechanism
from aima_tasks.kernel.routing import Scope
from tests.providers.fake_server import FakeServer


def test_only_a_host_whose_provider_names_a_mechanism_ends_itself() -> None:
    assert SelfShutdown.from_env({}) is None  # a local host
    assert SelfShutdown.from_env({"AIMA_SHUTDOWN": "runpod"}) == SelfShutdown(
        ShutdownMechanism.RUNPOD, 600.0)
    assert SelfShutdown.from_env({"AIMA_SHUTDOWN": "process",
                                  "AIMA_SELF_SHUTDOWN_AFTER_S": "12"}).after_s == 12
    with pytest.raises(ValueError, match="AIMA_SHUTDOWN='gcp': use one of aws, runpod"):
        SelfShutdown.from_env({"AIMA_SHUTDOWN": "gcp"})
    with pytest.raises(ValueError, match="must be more than 0"):
        SelfShutdown.from_env({"AIMA_SHUTDOWN": "aws", "AIMA_SELF_SHUTDOWN_AFTER_S": "0"})


def test_contact_is_lost_after_its_time_without_an_answer() -> None:
    now = [100.0]
    contact = Contact(10, clock=lambda: now[0])
    now[0] = 109
    assert not contact.lost()
    contact.answered()
    now[0] = 118
    assert not contact.lost()
    now[0] = 120
    assert contact.lost() and contact.silent_s() == 11


def test_the_heartbeat_loop_gives_up_on_a_silent_control_plane(tmp_path: Path) -> None:
    dead = ControlPlane("http://127.0.0.1:9")  # nothing listens: refused
    context = AgentContext(control_plane=dead, agent_id=1, scope=Scope.CLOUD, gpu_uuid="",
                           workdir=tmp_path)
    lost = threading.Event()
    beat = threading.Thread(target=heartbeat_loop, args=(
        dead, [], Workers(context, [], "host"), 0.05, threading.Event(), Contact(0.3),
        lost.set))
    beat.start()
    beat.join(timeout=10)
    assert lost.is_set() and not beat.is_alive()


class Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str, dict | None]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        Recorder.calls.append((self.command, self.path, self.headers["Authorization"], body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_DELETE = record


@pytest.fixture
def provider_api(monkeypatch: pytest.MonkeyPatch):
    Recorder.calls = []
    with FakeServer(Recorder) as server:
        monkeypatch.setattr(self_shutdown, "RUNPOD_GRAPHQL", f"{server.url}/graphql")
        monkeypatch.setattr(self_shutdown, "VASTAI_API", f"{server.url}/api/v0")
        yield Recorder.calls


def test_a_runpod_pod_terminates_itself_with_its_own_key(provider_api, monkeypatch) -> None:
    monkeypatch.setenv("RUNPOD_POD_ID", "pod-7")
    monkeypatch.setenv("RUNPOD_API_KEY", "pod-scoped")
    assert SelfShutdown(ShutdownMechanism.RUNPOD, 1).end_instance() == 0
    [(method, path, auth, body)] = provider_api
    assert (method, path, auth) == ("POST", "/graphql", "Bearer pod-scoped")
    assert "podTerminate(input: {podId: $pod})" in body["query"]
    assert body["variables"] == {"pod": "pod-7"}


def test_a_vastai_instance_destroys_itself_with_its_own_key(provider_api, monkeypatch) -> None:
    monkeypatch.setenv("CONTAINER_ID", "4242")
    monkeypatch.setenv("CONTAINER_API_KEY", "instance-scoped")
    assert SelfShutdown(ShutdownMechanism.VASTAI, 1).end_instance() == 0
    assert provider_api == [("DELETE", "/api/v0/instances/4242/", "Bearer instance-scoped",
                             None)]


def test_without_its_id_a_host_says_so_and_exits(provider_api, monkeypatch) -> None:
    # Neither here nor in PID 1's environment (this is no RunPod pod).
    monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    assert SelfShutdown(ShutdownMechanism.RUNPOD, 1).end_instance() == 0
    assert provider_api == []


@pytest.mark.parametrize("works", [True, False])
def test_an_aws_host_powers_off_or_asks_its_boot_script_to(tmp_path: Path, monkeypatch,
                                                           works: bool) -> None:
    # A stand-in shutdown: the real one must never run in a test.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    flag = tmp_path / "called"
    (bin_dir / "shutdown").write_text(f'#!/bin/sh\necho "$@" > {flag}\nexit {0 if works else 1}\n')
    (bin_dir / "shutdown").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert SelfShutdown(ShutdownMechanism.AWS, 1).end_instance() == POWER_OFF_EXIT
    assert flag.read_text().split() == ["-h", "now"]


def test_a_rented_host_that_cannot_register_ends_itself(tmp_path: Path, monkeypatch) -> None:
    """Booted after its control plane died: it asks again until its time, then ends."""
    monkeypatch.setenv("AIMA_SHUTDOWN", "process")
    monkeypatch.setenv("AIMA_SELF_SHUTDOWN_AFTER_S", "0.5")
    config = AgentConfig(control_plane_url="http://127.0.0.1:9", token="t0k",
                         simulate_gpu="Sim:24", name="aima-1", location="", heartbeat_s=1,
                         workdir=tmp_path)
    started = time.monotonic()
    with pytest.raises(SystemExit) as ended:
        enrol_or_end(config, ControlPlane(config.control_plane_url), {}, [])
    assert ended.value.code == 0 and time.monotonic() - started >= 0.5
    # A local host (no mechanism named) says what to fix instead, at once.
    monkeypatch.delenv("AIMA_SHUTDOWN")
    with pytest.raises(StartupError, match=r"could not register with http://127\.0\.0\.1:9:"):
        enrol_or_end(config, ControlPlane(config.control_plane_url), {}, [])
