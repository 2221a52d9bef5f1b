"""The agent's command line: help, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aima_tasks.broker import PROJECT_ROOT


def agent(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMA_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-m", "agents", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_help_explains_every_option():
    done = agent("run", "--help")
    assert done.returncode == 0
    for option in ("--control-plane", "--token", "--scope", "--simulate-gpu", "--name",
                   "--location", "--heartbeat", "--workdir", "AIMA_CONTROL_PLANE_URL"):
        assert option in done.stdout


def test_missing_control_plane_and_token():
    done = agent("run")
    assert done.returncode == 2
    assert "--control-plane and --token required" in done.stderr


def test_without_a_gpu_it_refuses_unless_simulating():
    pytest.importorskip("pynvml")
    done = agent("run", "--control-plane", "http://127.0.0.1:9", "--token", "t")
    if "registered" in done.stderr:  # pragma: no cover - only on a host with a driver
        pytest.fail("expected no NVIDIA driver on the test machine")
    assert done.returncode == 2
    assert "no NVIDIA driver found" in done.stderr
    assert "--simulate-gpu" in done.stderr


@pytest.mark.parametrize("spec, message", [("RTX", "NAME:VRAM_GB"), ("RTX:lots", "a number"),
                                           ("RTX:0", "between 1 and 1024")])
def test_bad_simulation_spec(spec, message):
    done = agent("run", "--control-plane", "http://127.0.0.1:9", "--token", "t",
                 "--simulate-gpu", spec)
    assert done.returncode == 2 and message in done.stderr


def test_unreachable_control_plane_is_one_clear_line():
    done = agent("run", "--control-plane", "http://127.0.0.1:9", "--token", "t",
                 "--simulate-gpu", "RTX:24")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("aima agent: could not register with http://127.0.0.1:9")
