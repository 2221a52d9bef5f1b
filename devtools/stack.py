"""A whole AIMA on this machine, each part a real process: web server and API,
control worker, one local agent with a simulated GPU. The demo, the end-to-end
tests and the benchmarks start it the same way."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from aima_tasks.broker import PROJECT_ROOT
from devtools.api_client import ApiClient
from devtools.processes import Supervisor, http_up, wait_for


class StackError(RuntimeError):
    pass


@dataclass
class Stack:
    api: ApiClient
    supervisor: Supervisor
    base_url: str
    username: str
    password: str
    # Flower itself (no login; the web's /flower/ is the operators' way in), hearing
    # every worker's events, the agents' relayed by the control plane.
    flower_url: str

    def stop(self) -> None:
        # Workers and agents stop together (each takes seconds to finish its
        # task at hand), the web server last: they may still report to it.
        self.supervisor.stop_together(
            [p for p in self.supervisor.processes if p.name != "web"])
        self.supervisor.stop_all()


def embedded_env(base: dict[str, str], var_dir: Path) -> dict[str, str]:
    """``base`` turned into the embedded default: no broker or database server
    named, so the filesystem broker and SQLite under ``var_dir``."""
    env = {k: v for k, v in base.items() if k not in ("AIMA_BROKER_URL", "DATABASE_URL")}
    return {**env, "AIMA_VAR_DIR": str(var_dir), "AIMA_MEDIA_ROOT": str(var_dir / "media")}


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start(env: dict[str, str], log_dir: Path, port: int, gpu: str, username: str = "demo",
          heartbeat_s: float = 30, beat: bool = False) -> Stack:
    """Migrate, create an admin and an enrollment token, start the processes and
    wait until the agent's GPU is online. On failure, everything started is stopped
    and the error carries the logs."""
    if not port_free(port):
        raise StackError(f"port {port} is already in use; choose another one")
    manage(env, "migrate", "--noinput")
    password, token = manage(env, "aima_admin", username).split()
    enrollment = manage(env, "aima_enroll", "--label", f"{username} agent")
    base_url = f"http://127.0.0.1:{port}"
    flower_port = free_port()
    # Flower answers on its own port and, for operators, at the web's /flower/.
    flower_url = f"http://127.0.0.1:{flower_port}/flower"
    supervisor = Supervisor(log_dir=log_dir,
                            env={**env, "AIMA_FLOWER_URL": f"http://127.0.0.1:{flower_port}"})
    try:
        supervisor.start_web(port)
        supervisor.start_control_worker(beat=beat)
        supervisor.start_flower(flower_port)
        wait_for("the web server", http_up(f"{base_url}/api/schema/"), 60, supervisor)
        # Listening before the agent works: Flower keeps no events sent before it.
        wait_for("Flower", http_up(f"{flower_url}/healthcheck"), 60, supervisor)
        supervisor.start_agent(base_url, enrollment, gpu,
                               extra=("--heartbeat", f"{heartbeat_s:g}"))
        api = ApiClient(base_url, token)
        wait_for("the agent's GPU", lambda: any(
            g["agent"] and g["agent"]["online"] for g in api.get("/api/v1/gpus/")["results"]),
            90, supervisor)
    except (RuntimeError, TimeoutError) as exc:
        logs = "\n".join(f"--- {p.name} ---\n{p.tail(40)}" for p in supervisor.processes)
        supervisor.stop_all()
        raise StackError(f"{exc}\n{logs}") from None
    return Stack(api=api, supervisor=supervisor, base_url=base_url, username=username,
                 password=password, flower_url=flower_url)
