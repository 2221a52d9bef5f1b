"""The faults of issue 14, each a scenario: what an operator's bad day does to the
processes, the broker and the database, and what requests meanwhile may get."""

from __future__ import annotations

import signal
import time

from devtools.processes import wait_for
from tests import rabbitmq_node
from tests.chaos import services
from tests.chaos.harness import Chaos, Scenario
from tests.chaos.stack import OFFLINE_AFTER_S

RESTART_AFTER_S = 2  # an init system's restart delay
BROKER_DOWN_S = 10
HANG_S = 10
OUTAGE_S = 20
# A POST while the broker hangs: answered in this time, accepted or refused.
HUNG_POST_S = 5


def agent_kill(chaos: Chaos) -> None:
    """The agent and its GPU workers die mid-task; the agent is restarted."""
    chaos.stack.kill("agent")
    time.sleep(RESTART_AFTER_S)
    chaos.stack.launch("agent")


def worker_kill(chaos: Chaos) -> None:
    """The control worker (with its beat) dies mid-task and is restarted."""
    chaos.stack.kill("control-worker")
    time.sleep(RESTART_AFTER_S)
    chaos.stack.launch("control-worker")


def broker_stop(chaos: Chaos) -> None:
    """RabbitMQ's application stopped and started again (rabbitmqctl stop_app)."""
    services.rabbitmqctl(chaos.world.node, "stop_app")
    try:
        time.sleep(BROKER_DOWN_S)
    finally:  # the later scenarios need it back, whatever happened
        services.rabbitmqctl(chaos.world.node, "start_app")
        rabbitmq_node.wait_ready(chaos.world.node)


def broker_kill(chaos: Chaos) -> None:
    """The broker's node killed (SIGKILL) and started again on the same ports."""
    chaos.world.node.kill()
    try:
        time.sleep(BROKER_DOWN_S)
    finally:
        chaos.world.node.restart()


def broker_hang(chaos: Chaos) -> None:
    """The broker's VM stopped (SIGSTOP): connections open, nothing answers."""
    with chaos.window():
        services.hang_broker(chaos.world.node, True)
        try:
            time.sleep(HANG_S)
        finally:
            services.hang_broker(chaos.world.node, False)


def db_restart(chaos: Chaos) -> None:
    """``pg_ctl restart -m fast``: every connection cut, down for a moment."""
    with chaos.window(after_s=2):
        chaos.world.cluster.restart()


def db_outage(chaos: Chaos) -> None:
    """PostgreSQL down for 20 s: every request meanwhile must get 503."""
    chaos.world.cluster.stop()
    try:
        with chaos.window():
            time.sleep(OUTAGE_S)
    finally:
        chaos.world.cluster.start()


def agent_stop(chaos: Chaos) -> None:
    """One of two agents silent (SIGSTOP) for twice the time after which it counts as
    lost: its GPU leaves placement, its running job finishes on the other's, and it
    comes back."""
    chaos.stack.signal("agent", signal.SIGSTOP)
    try:
        time.sleep(2 * OFFLINE_AFTER_S)
    finally:
        chaos.stack.signal("agent", signal.SIGCONT)
    try:
        wait_for("the woken agent's GPU", chaos.stack.agents_online, 30, every_s=0.5)
    except TimeoutError as exc:
        chaos.problems.append(str(exc))


SCENARIOS = [
    Scenario("agent-kill", agent_kill, RESTART_AFTER_S),
    Scenario("worker-kill", worker_kill, RESTART_AFTER_S),
    Scenario("broker-stop", broker_stop, BROKER_DOWN_S),
    Scenario("broker-kill", broker_kill, BROKER_DOWN_S),
    Scenario("broker-hang", broker_hang, HANG_S, allowed=frozenset({201, 200, 503}),
             max_s=HUNG_POST_S),
    Scenario("db-restart", db_restart, 2, allowed=frozenset({200, 201, 503}), probe=True),
    Scenario("db-outage", db_outage, OUTAGE_S, allowed=frozenset({503}), probe=True),
    Scenario("agent-stop", agent_stop, 2 * OFFLINE_AFTER_S, agents=2),
]
