"""Starting and stopping AIMA's processes side by side on one machine, for
the demo, the end-to-end tests and the benchmarks (through ``stack``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aima_tasks.broker import PROJECT_ROOT


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], drop: tuple[str, ...] = (),
              extra_env: dict[str, str] | None = None) -> Process:
        """Start ``argv`` logging to ``<log_dir>/<name>.log``; ``drop`` names
        variables the child must not inherit, ``extra_env`` adds some."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        child_env = {k: v for k, v in self.env.items() if k not in drop} | (extra_env or {})
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**child_env, "PYTHONUNBUFFERED": "1"},
                # Own process group: stopping it stops the worker's pool children too.
                start_new_session=True)
        process = Process(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        return process

    def start_web(self, port: int) -> Process:
        # --insecure: the admin's and the API docs' static files, with DEBUG off.
        return self.start("web", [sys.executable, "manage.py", "runserver",
                                  f"127.0.0.1:{port}", "--noreload", "--insecure"])

    def start_control_worker(self, beat: bool = False) -> Process:
        return self.start("control-worker", [sys.executable, "manage.py", "aima_worker",
                                             "--concurrency", "1", *(["--beat"] if beat else [])])

    def start_agent(self, control_plane_url: str, token: str, simulate_gpu: str,
                    name: str = "agent", extra: tuple[str, ...] = ()) -> Process:
        # An agent is not part of the control plane: no Django settings reach it.
        # The token in the environment, not on the command line, where any user sees it.
        argv = [sys.executable, "-m", "agents", "run", "--control-plane", control_plane_url,
                "--simulate-gpu", simulate_gpu, *extra]
        return self.start(name, argv, drop=("DJANGO_SETTINGS_MODULE", "DATABASE_URL"),
                          extra_env={"AIMA_AGENT_TOKEN": token})

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited with code {process.popen.returncode}; "
                                   f"its log ({process.log_path}) ends:\n{process.tail()}")

    def stop(self, process: Process, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if process.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, sig)
        try:
            return process.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            return process.popen.wait()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.processes.clear()


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float,
             supervisor: Supervisor | None = None, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if supervisor is not None:
            supervisor.check_alive()
        if ready():
            return
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")


def http_up(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except (urllib.error.URLError, OSError):
            return False

    return ready
