"""Keeping instances in step with their agents and jobs: ready when the agent
registers, busy and idle as jobs start and end, and the periodic tick that
ends what bills for nothing (boot timeouts, dead hosts, silent agents, idle
ones past their grace unless the idle policy pauses them, paused ones past the
pause grace), recovers lost launches and gives up lost jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.utils import timezone

from aima_tasks.kernel.idle_policy import IdleAction
from aima_tasks.kernel.placement import Decision
from aima_web.audit import trail
from aima_web.fleet.models import Agent, EnrollmentToken
from aima_web.instances import billing, pausing, warm
from aima_web.instances.capacity import cloud_demand, ensure_capacity, stranded_jobs
from aima_web.instances.ending import record_host, terminate, terminate_again
from aima_web.instances.launching import LaunchOutcome, launch_failed
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.registry import instance_tags, providers, terminate_at_provider
from aima_web.instances.states import AVAILABLE, WITH_AGENT, transition
from aima_web.jobs import services as jobs
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from providers.base import InstanceState as ProviderState
from providers.base import NotFoundError, ProviderError, TransientError

log = logging.getLogger(__name__)

# A job stranded on an ended instance is given up once a newer instance of its
# class has been idle this long (at least the idle grace) without taking it.
LOST_JOB_WAIT_S = 60


class Tally(StrEnum):
    """What the tick counts: the keys of its report."""

    RECOVERED = "recovered"
    BOOT_TIMEOUTS = "boot_timeouts"
    DIED = "died"
    AGENT_LOST = "agent_lost"
    IDLE_ENDED = "idle_ended"
    PAUSED = "paused"
    LOST_JOBS = "lost_jobs"
    REQUESTED = "requested"
    WARM = "warm"  # asked for ahead of a forecast burst (instances/warm.py)


class Verdict(StrEnum):
    """What the tick does with a booting or an idle instance."""

    KEEP = "keep"
    TIMED_OUT = "timed_out"  # its agent did not register in time
    DIED = "died"            # it ended at the provider while booting
    BUSY = "busy"            # it took a job, told of after the one before it ended
    END = "end"              # idle past its grace, no work of its class on the way


# ---------------------------------------------------------------- agents and jobs

def agent_registered(agent: Agent, token: EnrollmentToken) -> None:
    instance = CloudInstance.objects.filter(enrollment_token=token).first()
    if instance is None:
        return
    now = timezone.now()
    if instance.state == InstanceState.RESUMING:
        pausing.resumed(instance, now)
        return
    if transition(instance.pk, InstanceState.READY, agent=agent, ready_at=now, idle_since=now):
        trail.record(trail.SYSTEM, "instance.ready", f"instance:{instance.pk}",
                     agent=agent.pk, boot_s=(now - instance.launched_at).total_seconds()
                     if instance.launched_at else None)


def job_started(agent_id: int) -> None:
    instance_id = CloudInstance.objects.filter(agent_id=agent_id).values_list(
        "pk", flat=True).first()
    if instance_id is not None:
        transition(instance_id, InstanceState.BUSY, idle_since=None)


def job_finished(job_id: str) -> None:
    """Charge the job its running time on the instance, and free the instance."""
    job = Job.objects.filter(pk=job_id).select_related("agent").first()
    if job is None or job.agent_id is None:
        return
    instance = CloudInstance.objects.filter(agent_id=job.agent_id).first()
    if instance is None:
        return
    now = timezone.now()
    if job.running_at is not None:
        seconds = ((job.finished_at or now) - job.running_at).total_seconds()
        Job.objects.filter(pk=job_id).update(cost=billing.cost(instance.price_per_hour, seconds))
    # Jobs end on the control worker after the agent has moved on: the next
    # one may be running already.
    if not runs_a_job(job.agent_id):
        transition(instance.pk, InstanceState.IDLE, idle_since=now)


def runs_a_job(agent_id: int | None) -> bool:
    return Job.objects.filter(agent_id=agent_id, state=JobState.RUNNING).exists()


# ---------------------------------------------------------------- the tick

def tick(now: datetime | None = None) -> dict[str, int]:
    """The periodic pass: lost launches, boot timeouts, dead instances, silent
    agents, busy ones with no job left, idle ones past their grace; then
    capacity for queued work."""
    now = now or timezone.now()
    counts: dict[str, int] = {Tally.RECOVERED: recover_launches(now)}
    counts.update(check_booting(now))
    counts[Tally.AGENT_LOST] = end_silent(now)
    # A busy instance whose job ended without telling us (cancelled, lost) is idle.
    for instance in CloudInstance.objects.filter(state=InstanceState.BUSY):
        if not runs_a_job(instance.agent_id):
            transition(instance.pk, InstanceState.IDLE, idle_since=now)
    counts.update(end_idle(now))
    counts.update(pausing.check_paused(now))
    for instance in CloudInstance.objects.filter(state=InstanceState.TERMINATING):
        terminate_again(instance)
    counts[Tally.LOST_JOBS] = give_up_lost_jobs(now)
    counts[Tally.REQUESTED] = len(ensure_capacity(now))
    counts[Tally.WARM] = len(warm.ensure_warm(now))
    return counts


def recover_launches(now: datetime) -> int:
    return sum(recover_launch(instance) for instance in CloudInstance.objects.filter(
        state=InstanceState.PROVISIONING, due_at__lte=now))


def check_booting(now: datetime) -> dict[str, int]:
    """End the booting instances that timed out or died at the provider."""
    counts = {Tally.BOOT_TIMEOUTS: 0, Tally.DIED: 0}
    boot_limit = now - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S)
    for instance in CloudInstance.objects.filter(state=InstanceState.BOOTING):
        verdict = booting_verdict(instance, boot_limit)
        if verdict == Verdict.TIMED_OUT:
            counts[Tally.BOOT_TIMEOUTS] += terminate(
                instance, f"its agent did not register within "
                          f"{settings.AIMA_BOOT_TIMEOUT_S} s", failed=True)
        elif verdict == Verdict.DIED:
            counts[Tally.DIED] += terminate(instance, "it ended at the provider while booting",
                                            failed=True)
    return counts


def booting_verdict(instance: CloudInstance, boot_limit: datetime) -> Verdict:
    if instance.launched_at and instance.launched_at < boot_limit:
        return Verdict.TIMED_OUT
    if gone_at_provider(instance):
        return Verdict.DIED
    return Verdict.KEEP


def end_silent(now: datetime) -> int:
    """An agent that stopped reporting (crashed, its host hung): the host
    bills for nothing. Its unfinished job goes back to the queue when its
    broker connection drops (acks_late)."""
    silent = now - timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
    return sum(terminate(instance, f"its agent sent no heartbeat for "
                                   f"{settings.AIMA_AGENT_OFFLINE_AFTER_S} s", failed=True)
               for instance in CloudInstance.objects.filter(
                   state__in=WITH_AGENT, agent__last_heartbeat__lt=silent))


def end_idle(now: datetime) -> dict[str, int]:
    """Pause or end the instances idle past their grace that no work is on its
    way to, as the idle policy decides; its decision is kept on the row."""
    grace = now - timedelta(seconds=settings.AIMA_IDLE_GRACE_S)
    demand = {want.gpu_class for want in cloud_demand()}
    counts = {Tally.IDLE_ENDED: 0, Tally.PAUSED: 0}
    for instance in CloudInstance.objects.filter(state__in=AVAILABLE, idle_since__lte=grace):
        verdict = idle_verdict(instance, demand)
        if verdict == Verdict.BUSY:
            transition(instance.pk, InstanceState.BUSY, [instance.state], idle_since=None)
        elif verdict == Verdict.END and warm.keep_for_burst(instance, now).request:
            continue  # kept warm: a burst of its class is forecast within its boot time
        elif verdict == Verdict.END:
            decision = pausing.idle_decision(instance, now, queued=False)
            if decision.action == IdleAction.PAUSE:
                counts[Tally.PAUSED] += pausing.pause(instance, decision)
            elif decision.action == IdleAction.TERMINATE:
                CloudInstance.objects.filter(pk=instance.pk).update(
                    idle_decision=decision.to_dict())
                counts[Tally.IDLE_ENDED] += terminate(
                    instance, f"idle for {settings.AIMA_IDLE_GRACE_S} s; {decision.reason}")
    return counts


def idle_verdict(instance: CloudInstance, demand: set[int]) -> Verdict:
    # Queued work of its class is on its way to it: keep it.
    if instance.gpu_class in demand:
        return Verdict.KEEP
    # A job it took just now, told of after the one before it ended.
    if runs_a_job(instance.agent_id):
        return Verdict.BUSY
    return Verdict.END


def recover_launch(instance: CloudInstance) -> bool:
    """A launch that never finished: its control worker died while asking the
    provider. Whatever the provider started carries the instance's tag: adopt
    it, or launch again. Returns whether the instance moved on."""
    try:
        found = providers().get(instance.provider).list_instances(instance_tags(instance.pk))
    except (ProviderError, LookupError) as exc:
        log.warning("recovering the launch of %s: %s", instance.name, exc)
        return False
    if not found:
        return launch_failed(instance, TransientError(
            f"the launch did not finish within {settings.AIMA_LAUNCH_TIMEOUT_S} s "
            f"(its control worker was lost)")) != LaunchOutcome.FAILED
    adopted, *extra = found
    for host in extra:  # one launch, one host: any more is a leak
        terminate_at_provider(instance.provider, host.instance_id)
    moved = record_host(instance, adopted) and transition(
        instance.pk, InstanceState.BOOTING, attempts=instance.attempts + 1)
    if moved:
        trail.record(trail.SYSTEM, "instance.adopted", f"instance:{instance.pk}",
                     provider=instance.provider, provider_instance_id=adopted.instance_id)
    return moved


def gone_at_provider(instance: CloudInstance) -> bool:
    if not instance.provider_instance_id:
        return False
    try:
        described = providers().get(instance.provider).describe(instance.provider_instance_id)
    except NotFoundError:
        return True
    except (ProviderError, LookupError):
        return False
    return described.state == ProviderState.TERMINATED


def give_up_lost_jobs(now: datetime) -> int:
    """Fail the stranded jobs that a newer instance of their class has been
    idle next to for ``LOST_JOB_WAIT_S`` without taking them up: their task is
    gone (it finished with its result undelivered, or was dropped)."""
    waited = now - timedelta(seconds=max(settings.AIMA_IDLE_GRACE_S, LOST_JOB_WAIT_S))
    lost = 0
    for job in stranded_jobs().select_related("agent__instance"):
        ended = job.agent.instance
        if CloudInstance.objects.filter(
                gpu_class=Decision.from_dict(job.placement).gpu_class,
                ready_at__gt=ended.terminated_at or now,
                state__in=AVAILABLE, idle_since__lte=waited).exists():
            lost += jobs.fail(str(job.pk), f"lost: its instance {ended.name} ended while it ran, "
                                           f"and no instance took it up again")
    return lost
