"""Starting and stopping AIMA's processes side by side on one machine, for
the demo, the end-to-end tests and the benchmarks (through ``stack``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aima_tasks.broker import PROJECT_ROOT


@dataclass(frozen=True)
class RestartPolicy:
    """How a supervisor revives a process that died: after ``backoff_s``,
    doubled for each restart within ``window_s``, at most ``max_backoff_s``; a
    process that needs more than ``max_restarts`` restarts within ``window_s``
    keeps dying for a reason a restart will not fix, and the supervisor gives up."""

    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 300.0

    def delay_s(self, recent_restarts: int) -> float:
        return min(self.backoff_s * 2 ** recent_restarts, self.max_backoff_s)


class GaveUp(RuntimeError):
    """A process kept dying: one line naming it and its log."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    # What it was started with, to start it again the same way.
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restarts: list[float] = field(default_factory=list)  # monotonic times, recent ones
    restart_due: float | None = None  # monotonic time of a restart it waits for

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None


def popen(argv: list[str], env: dict[str, str], log_path: Path, mode: str) -> subprocess.Popen:
    with log_path.open(mode) as log:
        return subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=env,
                                # Own process group: stopping it stops a worker's pool too.
                                start_new_session=True)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: list[Process] = field(default_factory=list)
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    log: Callable[[str], None] = say
    failure: GaveUp | None = None  # why a watch() thread stopped restarting
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _watching: threading.Event = field(default_factory=threading.Event, repr=False)
    _watcher: threading.Thread | None = field(default=None, repr=False)

    def start(self, name: str, argv: list[str], drop: tuple[str, ...] = (),
              extra_env: dict[str, str] | None = None) -> Process:
        """Start ``argv`` logging to ``<log_dir>/<name>.log``; ``drop`` names
        variables the child must not inherit, ``extra_env`` adds some."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child_env = {k: v for k, v in self.env.items() if k not in drop} | (extra_env or {})
        env = {**child_env, "PYTHONUNBUFFERED": "1"}
        log_path = self.log_dir / f"{name}.log"
        process = Process(name=name, popen=popen(argv, env, log_path, "wb"), log_path=log_path,
                          argv=list(argv), env=env)
        with self._lock:
            self.processes.append(process)
        return process

    def start_web(self, port: int) -> Process:
        # --insecure: the admin's and the API docs' static files, with DEBUG off.
        return self.start("web", [sys.executable, "manage.py", "runserver",
                                  f"127.0.0.1:{port}", "--noreload", "--insecure"])

    def start_control_worker(self, beat: bool = False) -> Process:
        return self.start("control-worker", [sys.executable, "manage.py", "aima_worker",
                                             "--concurrency", "1", *(["--beat"] if beat else [])])

    def start_flower(self, port: int) -> Process:
        # Behind the control plane's /flower/ in production, hence the prefix; it
        # hears the workers' events, so it asks them nothing (agents would not answer).
        return self.start("flower", [sys.executable, "-m", "celery", "-A", "aima_web.celery",
                                     "flower", "--address=127.0.0.1", f"--port={port}",
                                     "--url_prefix=flower", "--enable_events=False",
                                     "--persistent=False"],
                          # Its API answers without a login of its own: it listens on the
                          # loopback only, and the web's /flower/ admits operators only.
                          extra_env={"FLOWER_UNAUTHENTICATED_API": "true"})

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

    def keep_alive(self) -> None:
        """One round of supervision: a dead process is restarted once its
        backoff has passed (one line logged when it is found dead); one that
        died too often raises :class:`GaveUp`."""
        with self._lock:
            now = time.monotonic()
            for process in self.processes:
                if process.alive():
                    continue
                if process.restart_due is None:
                    self._schedule_restart(process, now)
                elif now >= process.restart_due:
                    process.restart_due = None
                    process.restarts.append(now)
                    # What it left behind (a worker's pool) goes with it: its group.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.popen.pid, signal.SIGKILL)
                    # Logging on after the dead one's last words.
                    process.popen = popen(process.argv, process.env, process.log_path, "ab")

    def _schedule_restart(self, process: Process, now: float) -> None:
        policy, code = self.policy, process.popen.returncode
        process.restarts = [t for t in process.restarts if now - t < policy.window_s]
        if len(process.restarts) >= policy.max_restarts:
            raise GaveUp(f"{process.name} keeps dying (exit code {code}, restarted "
                         f"{len(process.restarts)} times in {policy.window_s:g} s); "
                         f"its log: {process.log_path}")
        delay = policy.delay_s(len(process.restarts))
        process.restart_due = now + delay
        self.log(f"supervisor: {process.name} exited with code {code}; "
                 f"restarting in {delay:g} s")

    def watch(self, every_s: float = 0.5) -> None:
        """Keep the processes alive from a thread of this process until
        ``stop_all``; if it gives up, ``failure`` says why."""
        self._watching.set()

        def supervise() -> None:
            while self._watching.is_set():
                try:
                    self.keep_alive()
                except GaveUp as exc:
                    self.failure = exc
                    self.log(f"supervisor: {exc}")
                    return
                time.sleep(every_s)

        self._watcher = threading.Thread(target=supervise, name="supervisor", daemon=True)
        self._watcher.start()

    def stop(self, process: Process, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if process.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, sig)
        try:
            return process.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            return process.popen.wait()

    def stop_watching(self) -> None:
        self._watching.clear()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def stop_together(self, processes: list[Process], timeout_s: float = 30) -> None:
        """Signal ``processes`` to stop all at once, then wait for each: their
        shutdowns overlap instead of adding up. Not restarted afterwards."""
        self.stop_watching()
        with self._lock:
            for process in processes:
                if process.alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for process in processes:
                try:
                    process.popen.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stop(process, signal.SIGKILL)

    def stop_all(self) -> None:
        self.stop_watching()
        with self._lock:
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
