"""The agent's command line: help, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aima_tasks.broker import PROJECT_ROOT


def agent(*args: str, token: str = "t", workdir: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMA_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if token:
        env["AIMA_AGENT_TOKEN"] = token
    if workdir:
        env["AIMA_AGENT_WORKDIR"] = workdir
    return subprocess.run([sys.executable, "-m", "agents", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_help_explains_every_option():
    done = agent("run", "--help")
    assert done.returncode == 0
    for option in ("--control-plane", "--token-file", "--ca-bundle", "--simulate-gpu", "--name",
                   "--location", "--heartbeat", "--workdir", "AIMA_CONTROL_PLANE_URL",
                   "AIMA_AGENT_TOKEN"):
        assert option in done.stdout


def test_missing_control_plane():
    done = agent("run")
    assert done.returncode == 2
    assert "--control-plane required" in done.stderr


def test_without_a_token_or_a_kept_credential_it_says_what_to_give(tmp_path):
    done = agent("run", "--control-plane", "http://127.0.0.1:9", "--simulate-gpu", "RTX:24",
                 token="", workdir=str(tmp_path))
    assert done.returncode == 2
    assert "no enrollment token: set AIMA_AGENT_TOKEN or --token-file" in done.stderr


def test_an_unreadable_token_file_is_named(tmp_path):
    done = agent("run", "--control-plane", "http://127.0.0.1:9", "--token-file",
                 str(tmp_path / "missing"), token="")
    assert done.returncode == 2 and "--token-file: No such file or directory" in done.stderr


def test_without_a_gpu_it_refuses_unless_simulating():
    pytest.importorskip("pynvml")
    done = agent("run", "--control-plane", "http://127.0.0.1:9")
    if "registered" in done.stderr:  # pragma: no cover - only on a host with a driver
        pytest.fail("expected no NVIDIA driver on the test machine")
    assert done.returncode == 2
    assert "no NVIDIA driver found" in done.stderr
    assert "--simulate-gpu" in done.stderr


@pytest.mark.parametrize("spec, message", [("RTX", "NAME:VRAM_GB"), ("RTX:lots", "a number"),
                                           ("RTX:0", "between 1 and 1024")])
def test_bad_simulation_spec(spec, message):
    done = agent("run", "--control-plane", "http://127.0.0.1:9",
                 "--simulate-gpu", spec)
    assert done.returncode == 2 and message in done.stderr


def test_unreachable_control_plane_is_one_clear_line():
    done = agent("run", "--control-plane", "http://127.0.0.1:9",
                 "--simulate-gpu", "RTX:24")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("aima agent: could not register with http://127.0.0.1:9")
