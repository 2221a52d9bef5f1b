"""Keeps instances in step with the fleet and the jobs they serve."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from aima_web.fleet.signals import agent_registered
from aima_web.instances import upkeep
from aima_web.jobs.signals import job_finished, job_started


@receiver(agent_registered, dispatch_uid="instances.agent_registered")
def on_agent_registered(sender: Any, agent: Any, token: Any, **kwargs: Any) -> None:
    upkeep.agent_registered(agent, token)


@receiver(job_started, dispatch_uid="instances.job_started")
def on_job_started(sender: Any, job_id: str, agent_id: int, **kwargs: Any) -> None:
    upkeep.job_started(agent_id)


@receiver(job_finished, dispatch_uid="instances.job_finished")
def on_job_finished(sender: Any, job_id: str, **kwargs: Any) -> None:
    upkeep.job_finished(job_id)
