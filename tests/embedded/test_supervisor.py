"""The demo's supervisor restarts a process that died, with backoff and one line
logged, and gives up with one line naming a process that keeps dying and its log."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from devtools.processes import GaveUp, RestartPolicy, Supervisor

QUICK = RestartPolicy(backoff_s=0.2, max_backoff_s=1, max_restarts=3, window_s=60)
SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]


def supervise_until(supervisor: Supervisor, done, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        supervisor.keep_alive()
        time.sleep(0.05)


def test_a_killed_process_is_restarted_after_its_backoff_and_logged(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor(log_dir=tmp_path, policy=QUICK, log=lines.append)
    process = supervisor.start("sleeper", SLEEPER)
    first = process.popen.pid
    try:
        supervise_until(supervisor, lambda: "up" in process.log_path.read_text())
        os.killpg(first, signal.SIGKILL)
        process.popen.wait()
        killed_at = time.monotonic()
        supervise_until(supervisor, lambda: process.alive() and process.popen.pid != first)
        assert time.monotonic() - killed_at >= QUICK.backoff_s
        assert lines == ["supervisor: sleeper exited with code -9; restarting in 0.2 s"]
        supervise_until(supervisor, lambda: process.log_path.read_text().count("up") == 2)
    finally:
        supervisor.stop_all()


def test_a_process_that_keeps_dying_ends_supervision_naming_it_and_its_log(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor(log_dir=tmp_path, policy=QUICK, log=lines.append)
    supervisor.start("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with pytest.raises(GaveUp) as gave_up:
            supervise_until(supervisor, lambda: False)
    finally:
        supervisor.stop_all()
    message = str(gave_up.value)
    assert "\n" not in message
    assert message == (f"crasher keeps dying (exit code 3, restarted 3 times in 60 s); "
                       f"its log: {tmp_path / 'crasher.log'}")
    # Backoff doubles: 0.2, 0.4, 0.8 s.
    assert [line.rsplit(" in ", 1)[1] for line in lines] == ["0.2 s", "0.4 s", "0.8 s"]


def test_watch_restarts_from_a_thread_until_stopped(tmp_path):
    supervisor = Supervisor(log_dir=tmp_path, policy=QUICK, log=lambda _: None)
    process = supervisor.start("sleeper", SLEEPER)
    supervisor.watch(every_s=0.05)
    first = process.popen.pid
    os.killpg(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while not (process.alive() and process.popen.pid != first):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    supervisor.stop_all()
    assert not process.alive() and supervisor.failure is None
