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
from tests.agents.fake_azure import FakeAzure
from tests.agents.fake_gcp import FakeGcp
from tests.providers.fake_server import FakeServer


def test_only_a_host_whose_provider_names_a_mechanism_ends_itself() -> None:
    assert SelfShutdown.from_env({}) is None  # a local host
    assert SelfShutdown.from_env({"AIMA_SHUTDOWN": "runpod"}) == SelfShutdown(
        ShutdownMechanism.RUNPOD, 600.0)
    assert SelfShutdown.from_env({"AIMA_SHUTDOWN": "process",
                                  "AIMA_SELF_SHUTDOWN_AFTER_S": "12"}).after_s == 12
    assert SelfShutdown.from_env({"AIMA_SHUTDOWN": "azure"}).mechanism == "azure"
    with pytest.raises(ValueError, match="AIMA_SHUTDOWN='oci': use one of aws, runpod"):
        SelfShutdown.from_env({"AIMA_SHUTDOWN": "oci"})
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


def stand_in_shutdown(tmp_path: Path, monkeypatch, works: bool = True) -> Path:
    """A shutdown on PATH that notes its arguments: the real one must never run
    in a test. Returns the file it writes them to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    flag = tmp_path / "called"
    (bin_dir / "shutdown").write_text(f'#!/bin/sh\necho "$@" > {flag}\nexit {0 if works else 1}\n')
    (bin_dir / "shutdown").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return flag


@pytest.mark.parametrize("works", [True, False])
def test_an_aws_host_powers_off_or_asks_its_boot_script_to(tmp_path: Path, monkeypatch,
                                                           works: bool) -> None:
    flag = stand_in_shutdown(tmp_path, monkeypatch, works)
    assert SelfShutdown(ShutdownMechanism.AWS, 1).end_instance() == POWER_OFF_EXIT
    assert flag.read_text().split() == ["-h", "now"]


@pytest.fixture
def gcp(tmp_path: Path, monkeypatch):
    """A GCP VM's metadata server and Compute API, and a stand-in shutdown."""
    with FakeGcp(project="aima-test", zone="europe-west4-a", name="aima-gpu-1") as fake:
        monkeypatch.setenv("AIMA_METADATA_URL", fake.url)
        monkeypatch.setenv("AIMA_GCP_COMPUTE_URL", fake.compute_url)
        yield fake, stand_in_shutdown(tmp_path, monkeypatch)


@pytest.fixture
def azure(tmp_path: Path, monkeypatch):
    """An Azure VM's IMDS and ARM, and a stand-in shutdown."""
    with FakeAzure(subscription="sub-1", group="aima-rg", name="aima-gpu-1") as fake:
        monkeypatch.setenv("AIMA_METADATA_URL", fake.url)
        monkeypatch.setenv("AIMA_AZURE_ARM_URL", fake.url)
        yield fake, stand_in_shutdown(tmp_path, monkeypatch)


def test_a_gcp_vm_deletes_itself_with_its_service_accounts_token(gcp) -> None:
    gcp, powered_off = gcp
    assert SelfShutdown(ShutdownMechanism.GCP, 1).end_instance() == 0
    [(path, auth)] = gcp.deleted
    assert path == "/compute/v1/projects/aima-test/zones/europe-west4-a/instances/aima-gpu-1"
    assert auth.removeprefix("Bearer ") in gcp.tokens
    assert not powered_off.exists() and gcp.bare == 0


def test_an_azure_vm_deletes_itself_with_its_managed_identity(azure) -> None:
    azure, powered_off = azure
    assert SelfShutdown(ShutdownMechanism.AZURE, 1).end_instance() == 0
    [(path, auth)] = azure.deleted
    assert path == ("/subscriptions/sub-1/resourceGroups/aima-rg/providers/Microsoft.Compute/"
                    "virtualMachines/aima-gpu-1?api-version=2024-07-01")
    assert auth.removeprefix("Bearer ") in azure.tokens
    assert not powered_off.exists() and azure.bare == 0


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_a_vm_whose_delete_is_refused_powers_itself_off(cloud: str, request, caplog) -> None:
    fake, powered_off = request.getfixturevalue(cloud)
    fake.refuse_delete = True
    assert SelfShutdown(ShutdownMechanism(cloud), 1).end_instance() == POWER_OFF_EXIT
    assert fake.deleted == [] and powered_off.read_text().split() == ["-h", "now"]
    # The log says why: the cloud's own refusal.
    assert "HTTP 403" in caplog.text and "powering it off instead" in caplog.text


def test_a_vm_without_its_metadata_powers_itself_off(tmp_path: Path, monkeypatch) -> None:
    flag = stand_in_shutdown(tmp_path, monkeypatch)
    monkeypatch.setenv("AIMA_METADATA_URL", "http://127.0.0.1:9")  # refused
    assert SelfShutdown(ShutdownMechanism.GCP, 1).end_instance() == POWER_OFF_EXIT
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
