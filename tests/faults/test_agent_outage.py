"""An agent outlives a control plane that answers 503 (its database down): it waits
to register, as long as the 503s say (Retry-After), and its heartbeats go on through
an outage and reach the control plane again once the database is back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests

from agents.control_plane import (
    MAX_RETRY_AFTER_S,
    MIN_WAIT_S,
    Unavailable,
    Unreachable,
    retry_after_s,
    wait_s,
)
from devtools.processes import Supervisor, wait_for
from devtools.stack import manage
from tests.faults.web import Web, serving

GPU = "Outage RTX (simulated):24"


def agent_state(web: Web) -> dict | None:
    answer = requests.get(f"{web.base_url}/api/v1/gpus/", headers=web.as_token(), timeout=10)
    if answer.status_code != 200:
        return None
    agents = [gpu["agent"] for gpu in answer.json()["results"] if gpu["agent"]]
    return agents[0] if agents else None


def heard_since(web: Web, moment: datetime) -> bool:
    state = agent_state(web)
    return bool(state and state["online"]
                and datetime.fromisoformat(state["last_heartbeat"]) > moment)


@pytest.mark.e2e
def test_an_agent_registers_and_beats_through_a_database_outage(tmp_path: Path):
    # The embedded broker, in this test's folder: the agent's worker takes nobody's work.
    with serving(tmp_path, AIMA_BROKER_URL="") as web:
        enrollment = manage(web.env, "aima_enroll", "--label", "outage agent")
        supervisor = Supervisor(log_dir=tmp_path / "agent-logs", env=web.env)
        try:
            web.cluster.stop_server()
            agent = supervisor.start_agent(
                web.base_url, enrollment, GPU,
                extra=("--heartbeat", "1", "--workdir", str(tmp_path / "agent")))
            wait_for("the agent to meet the 503", lambda: "unavailable" in agent.tail(), 30,
                     supervisor)
            time.sleep(2)
            supervisor.check_alive()  # still waiting, not given up
            web.cluster.start_server()
            wait_for("the agent's GPU online", lambda: heard_since(web, datetime.min.replace(
                tzinfo=UTC)), 60, supervisor)

            web.cluster.stop_server()
            time.sleep(4)  # heartbeats every second meet 503s
            web.cluster.start_server()
            back = datetime.now(UTC)
            wait_for("a heartbeat after the outage", lambda: heard_since(web, back),
                     MAX_RETRY_AFTER_S, supervisor)
            supervisor.check_alive()
            assert "heartbeat failed" in agent.tail(200)
        finally:
            supervisor.stop_all()


def test_retry_after_is_read_as_seconds_or_a_date_and_bounded():
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert retry_after_s("5") == 5
    assert retry_after_s(" 12 ") == 12
    assert retry_after_s(format_datetime(now + timedelta(seconds=20), usegmt=True), now) == 20
    assert retry_after_s(format_datetime(now - timedelta(seconds=20), usegmt=True), now) == 0
    assert retry_after_s("86400") == MAX_RETRY_AFTER_S
    assert retry_after_s(None) is None
    assert retry_after_s("") is None
    assert retry_after_s("soon") is None
    assert retry_after_s("-3") is None


def test_the_wait_after_a_failure_is_what_the_control_plane_asked_for():
    assert wait_s(Unavailable("503", retry_after_s=7), 1) == 7
    assert wait_s(Unavailable("503", retry_after_s=0), 16) == MIN_WAIT_S
    assert wait_s(Unavailable("503"), 16) == 16
    assert wait_s(Unreachable("refused"), 2) == 2
