"""Celery events on the agents' behalf, for Flower.

An agent publishes nothing to the broker (on RabbitMQ its user may only read its
own GPU queue), so Flower cannot hear it. The control plane hears each agent over
HTTPS (heartbeats, a unit taken, its outcome) and publishes the events the
agent's per-GPU worker would have sent, through its own broker connection: a
worker ``agent-<id>-gpu<gpu id>@<host>`` with its ``aima.analyse`` tasks.

Event arguments carry ids and plain values only: never the unit's ticket (a
capability) nor any media. Monitoring is best effort: a broker fault is logged
and never fails the agent's request.
"""

from __future__ import annotations

import logging
import platform
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from aima_tasks.kernel.routing import TaskName
from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus
from aima_web.celery import app

log = logging.getLogger(__name__)

# Task ids of relayed units: the same unit gets the same id on start and outcome.
UNIT_NAMESPACE = uuid.UUID("6f1d3c52-5a8e-4f7b-9a51-1f0c2b7d9e31")
SOFTWARE = "aima-agent"
Event = tuple[str, dict[str, Any]]


def worker_name(agent: Any, gpu: Any | None) -> str:
    """The name Flower shows for the agent's worker on ``gpu``."""
    part = f"-gpu{gpu.pk}" if gpu is not None else ""
    return f"agent-{agent.pk}{part}@{agent.name}"


def unit_task_id(job_id: str, segment: int, analyses: Iterable[str]) -> str:
    return str(uuid.uuid5(UNIT_NAMESPACE, f"{job_id}/{segment}/{','.join(sorted(analyses))}"))


def heartbeat(agent: Any) -> None:
    """The agent reported in: each of its GPUs' workers is alive."""
    # Flower counts a worker offline two periods after its last heartbeat: the
    # same moment fleet health counts the agent silent.
    freq = settings.AIMA_AGENT_OFFLINE_AFTER_S / 2
    fields = {"freq": freq, "active": 0, "processed": 0, "loadavg": [0.0, 0.0, 0.0],
              "sw_ident": SOFTWARE, "sw_ver": agent.version or "", "sw_sys": platform.system()}
    for gpu in agent.gpus.all():
        publish_later(worker_name(agent, gpu), [("worker-heartbeat", fields)])


def unit_started(agent: Any, job_id: str, gpu_uuid: str, segment: int,
                 analyses: Iterable[str]) -> None:
    """The agent took a unit of the job: received and started on its GPU's worker."""
    analyses = list(analyses)
    task_id = unit_task_id(job_id, segment, analyses)
    work = {"job_id": str(job_id), "segment": segment, "analyses": analyses}
    received = {"uuid": task_id, "name": TaskName.ANALYSE.value, "args": repr((work,)),
                "kwargs": repr({}), "retries": 0, "eta": None, "expires": None,
                "root_id": task_id, "parent_id": None}
    publish_later(worker_name(agent, gpu_of(agent, gpu_uuid)),
                  [("task-received", received), ("task-started", {"uuid": task_id})])


def unit_reported(agent: Any, outcome: AnalysisOutcome) -> None:
    """The agent reported the unit's outcome."""
    task_id = unit_task_id(outcome.job_id, outcome.segment, outcome.analyses)
    stored = [r.analysis for r in outcome.results]
    if outcome.status == OutcomeStatus.DONE and stored:
        event: Event = ("task-succeeded", {"uuid": task_id, "result": repr({"stored": stored}),
                                           "runtime": runtime_s(outcome.results)})
    else:
        # Analysis errors are short texts the agent wrote; refusals say why.
        why = "; ".join(outcome.errors) or outcome.status.value
        event = ("task-failed", {"uuid": task_id, "exception": why[:2000], "traceback": ""})
    publish_later(worker_name(agent, gpu_of(agent, outcome.gpu_uuid)), [event])


def gpu_of(agent: Any, gpu_uuid: str) -> Any | None:
    return agent.gpus.filter(uuid=gpu_uuid).first() if gpu_uuid else None


def runtime_s(results: Iterable[Any]) -> float | None:
    spans = [(datetime.fromisoformat(r.started_at), datetime.fromisoformat(r.finished_at))
             for r in results]
    if not spans:
        return None
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


def publish_later(hostname: str, events: list[Event]) -> None:
    """Publish once the request's transaction committed (at once outside one):
    Flower never hears of work the database rolled back."""
    transaction.on_commit(lambda: publish(hostname, events))


def publish(hostname: str, events: list[Event]) -> None:
    try:
        with app.events.default_dispatcher(hostname=hostname) as dispatcher:
            for kind, fields in events:
                dispatcher.send(kind, **fields)
    # Best effort by design: whatever the broker raises, the agent's report stands.
    except Exception as exc:
        log.warning("task monitor: could not relay %s for %s: %s",
                    ", ".join(kind for kind, _ in events), hostname, exc)
