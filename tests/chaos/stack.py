"""The chaos suite's world and stacks: the services every scenario shares (one
PostgreSQL cluster, one RabbitMQ node, a migrated template database) and, per
scenario, a stack deployed as on a VPS (gunicorn web, control worker with its beat)
with one local agent of a simulated GPU, on a copy of the template and a vhost of
its own. Every part is a real process that a fault may kill, stop or restart."""

from __future__ import annotations

import os
import signal
import sys
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from agents import samples
from devtools import stack as local_stack
from devtools.api_client import ApiClient
from devtools.processes import Process, Supervisor, http_up, wait_for
from tests import postgres_cluster, rabbitmq_node

GPU = "Chaos RTX (simulated):24"
TEMPLATE = "aima_chaos_template"
OFFLINE_AFTER_S = 6
HEARTBEAT_S = 1
MAX_AGENTS = 4  # of a stack, enrolled with the template's one token
# What makes a fault's effects show within a scenario's minute: an agent is lost
# after a few silent seconds and the beat looks for such agents and for stuck jobs
# every few seconds (sending a stuck step again is harmless, so a short stale age
# only costs work); the API's throttles would answer a burst with 429.
SETTINGS = {
    "AIMA_AGENT_OFFLINE_AFTER_S": str(OFFLINE_AFTER_S), "AIMA_FLEET_HEALTH_S": "2",
    "AIMA_SWEEP_S": "2", "AIMA_STALE_RECEIVED_S": "15", "AIMA_STALE_PROBING_S": "15",
    "AIMA_STALE_PLACING_S": "15", "AIMA_STALE_UNSENT_S": "10",
    "AIMA_THROTTLE_USER": "1000000/minute", "AIMA_THROTTLE_AGENT": "1000000/minute",
    "AIMA_INSTANCE_TICK_S": "1", "AIMA_RECONCILE_S": "5",
}


@dataclass
class World:
    """What every scenario shares, made once."""

    cluster: postgres_cluster.Cluster
    node: rabbitmq_node.Node
    folder: Path
    env: dict[str, str]
    token: str  # the administrator's API token, valid in every copy of the template
    enrollment: str  # an enrollment token, unused in every copy of the template
    images: list[Path]


def prepare(cluster: postgres_cluster.Cluster, node: rabbitmq_node.Node, folder: Path,
            images: int) -> World:
    """Migrate the template database, with an administrator and an enrollment token
    in it, and write ``images`` distinct tiny images (media is stored by content)."""
    env = {**os.environ, **SETTINGS, "AIMA_VAR_DIR": str(folder / "var"),
           "AIMA_SECRET_KEY": uuid.uuid4().hex * 2,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(local_stack.PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    cluster.sql(f'CREATE DATABASE "{TEMPLATE}"')
    made = {**env, "DATABASE_URL": cluster.url(TEMPLATE)}
    local_stack.manage(made, "migrate", "--noinput")
    _password, token = local_stack.manage(made, "aima_admin", "chaos").split()
    enrollment = local_stack.manage(made, "aima_enroll", "--label", "chaos agents",
                                    "--uses", str(MAX_AGENTS))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    paths = [folder / "images" / f"img{i}.jpg" for i in range(images)]
    for i, path in enumerate(paths):
        samples.write_image(path, size=(32 + i % 200, 24 + i // 200))
    return World(cluster, node, folder, env, token, enrollment, paths)


@dataclass
class Stack:
    """One scenario's processes; ``launch`` starts a role again after a fault killed it."""

    world: World
    folder: Path
    database: str
    vhost: str
    env: dict[str, str]
    supervisor: Supervisor
    # Each web process's port; the agent and the clients use "web"'s.
    ports: dict[str, int]
    gpu: str = GPU  # the agent's simulated GPU(s)
    roles: dict[str, Process] = field(default_factory=dict)
    launches: int = 0

    def url(self, web: str = "web") -> str:
        return f"http://127.0.0.1:{self.ports[web]}"

    @property
    def base_url(self) -> str:
        return self.url()

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.base_url, self.world.token)

    @property
    def database_url(self) -> str:
        return self.world.cluster.url(self.database)

    def launch(self, role: str) -> Process:
        """Start ``role`` (web…, control-worker…, agent), logging to a file of its own;
        of several control workers, the one named "control-worker" runs the beat."""
        self.launches += 1
        name = f"{role}-{self.launches}"
        if role.startswith("web"):
            process = self.supervisor.start(name, [
                sys.executable, "-m", "gunicorn", "aima_web.wsgi", "--bind",
                f"127.0.0.1:{self.ports[role]}", "--workers", "2", "--timeout", "60",
                "--graceful-timeout", "5"])
        elif role == "control-worker":
            process = self.supervisor.start(name, [
                sys.executable, "manage.py", "aima_worker", "--concurrency", "2", "--beat"])
        elif role.startswith("control-worker"):
            # Under a node name of its own: two control workers on one host named alike
            # would share a pidbox queue.
            process = self.supervisor.start(name, [
                sys.executable, "manage.py", "aima_worker", "--concurrency", "2",
                "--hostname", f"control{role.removeprefix('control-worker')}@%h"])
        else:
            process = self.supervisor.start_agent(
                self.base_url, self.world.enrollment, self.gpu, name=name,
                extra=("--heartbeat", str(HEARTBEAT_S), "--workdir", str(self.folder / role),
                       "--name", f"chaos-{role}"))
        self.roles[role] = process
        return process

    def signal(self, role: str, sig: int) -> None:
        """Signal ``role``'s whole process group (a worker's pool, an agent's workers)."""
        os.killpg(self.roles[role].popen.pid, sig)

    def kill(self, role: str) -> None:
        self.signal(role, signal.SIGKILL)
        self.roles[role].popen.wait(30)

    def agents_online(self) -> bool:
        """Whether a GPU of every agent started is online."""
        online = {g["agent"]["id"] for g in self.api.get("/api/v1/gpus/")["results"]
                  if g["agent"] and g["agent"]["online"]}
        return len(online) >= sum(role.startswith("agent") for role in self.roles)

    def down(self) -> list[str]:
        """The roles whose latest process has exited."""
        return [f"{role} exited with {p.popen.returncode}"
                for role, p in self.roles.items() if not p.alive()]

    def stop(self) -> None:
        for process in self.supervisor.processes:
            if process.alive():  # a process a fault left stopped must take its SIGTERM
                os.killpg(process.popen.pid, signal.SIGCONT)
        self.supervisor.stop_all()
        # Best effort: a service a fault left down must not hide the scenario's outcome;
        # the run's cluster and node go at the end anyway.
        try:
            self.world.cluster.drop(self.database)
            self.world.node.api("DELETE", f"vhosts/{urllib.parse.quote(self.vhost, safe='')}")
        except (OSError, RuntimeError, psycopg.Error) as exc:
            print(f"chaos: {self.database} or {self.vhost} left behind: {exc}")


def start(world: World, name: str, folder: Path, roles: tuple[str, ...] = (
        "web", "control-worker", "agent"), before: tuple[tuple[str, ...], ...] = (),
        gpu: str = GPU, **settings: str) -> Stack:
    """A stack on a fresh copy of the template and a fresh vhost, the ``before``
    management commands run on it first; once its agent's GPU is online. On failure,
    everything started is stopped and the logs are raised."""
    database = f"aima_chaos_{name}_{uuid.uuid4().hex[:6]}"
    url = world.cluster.copy(TEMPLATE, database)
    vhost = f"chaos-{name}-{uuid.uuid4().hex[:6]}"
    world.node.add_vhost(vhost)
    # A var folder of its own: the audit checkpoints there name this database's chain.
    env = {**world.env, "DATABASE_URL": url, "AIMA_VAR_DIR": str(folder / "var"),
           "AIMA_MEDIA_ROOT": str(folder / "media"),
           "AIMA_BROKER_URL": world.node.amqp_url(vhost=vhost),
           "AIMA_BROKER_ADMIN_URL": world.node.admin_url, **settings}
    ports = {role: local_stack.free_port() for role in roles if role.startswith("web")}
    env["AIMA_PUBLIC_URL"] = f"http://127.0.0.1:{ports['web']}"
    running = Stack(world, folder, database, vhost, env,
                    Supervisor(log_dir=folder / "logs", env=env), ports, gpu)
    try:
        for command in before:
            local_stack.manage(env, *command)
        for role in roles:
            if role == "agent":  # the first agent: the webs must answer its registration
                for web in ports:
                    wait_for(web, http_up(f"{running.url(web)}/api/v1/gpus/"), 60,
                             running.supervisor)
            running.launch(role)
        wait_for("the agents' GPUs", running.agents_online, 90, running.supervisor, 0.5)
    except (RuntimeError, TimeoutError) as exc:
        logs = "\n".join(f"--- {p.name} ---\n{p.tail(40)}" for p in running.supervisor.processes)
        running.stop()
        raise local_stack.StackError(f"{exc}\n{logs}") from None
    return running
