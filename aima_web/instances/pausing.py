"""Pausing and resuming instances whose provider can: an idle one is paused
rather than terminated where the idle policy (``aima_tasks/kernel/idle_policy.py``)
finds it cheaper, billed at its storage price while paused, resumed for the next
job of its class, and terminated after the pause grace."""

from __future__ import annotations

import logging
from dataclasses import fields
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.idle_policy import (
    IdleAction,
    IdleDecision,
    IdleFacts,
    decide,
    decide_paused,
)
from aima_web.audit import trail
from aima_web.instances.demand_history import cloud_forecast
from aima_web.instances.ending import terminate
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.offers import offer_for
from aima_web.instances.preemption import release_units
from aima_web.instances.registry import providers
from aima_web.instances.states import AVAILABLE, ERROR_CHARS, transition
from providers.base import LaunchSpec, ProviderError

log = logging.getLogger(__name__)

# The disk a launch asks for (LaunchSpec's default): what a paused instance keeps.
DISK_GB = next(f.default for f in fields(LaunchSpec) if f.name == "disk_gb")


def idle_decision(instance: CloudInstance, now: datetime, queued: bool) -> IdleDecision:
    """The idle policy's decision for an instance without a job."""
    paused_price, resume_s = None, 0.0
    try:
        provider = providers().get(instance.provider)
    except LookupError:
        provider = None
    if provider is not None and getattr(provider, "supports_pause", False):
        paused_price = provider.paused_price_per_hour(DISK_GB)
        resume_s = provider.resume_s
    idle_s = (now - instance.idle_since).total_seconds() if instance.idle_since else 0.0
    horizon_s = float(settings.AIMA_PAUSE_GRACE_S)
    return decide(IdleFacts(
        price_per_hour=instance.price_per_hour, paused_price_per_hour=paused_price,
        boot_s=boot_seconds(instance), resume_s=resume_s,
        expected_jobs=expected_jobs(instance.gpu_class, now, horizon_s), horizon_s=horizon_s,
        idle_s=idle_s, idle_grace_s=float(settings.AIMA_IDLE_GRACE_S),
        pause_grace_s=float(settings.AIMA_PAUSE_GRACE_S), queued=queued))


def boot_seconds(instance: CloudInstance) -> float:
    """What a fresh launch of its offer takes until its agent is ready, by the
    provider's estimate (as its resume time is); else what its own launch took."""
    try:
        return offer_for(instance).boot_s
    except (ProviderError, LookupError):
        pass
    if instance.launched_at and instance.ready_at:
        return max((instance.ready_at - instance.launched_at).total_seconds(), 0.0)
    return 0.0


def expected_jobs(gpu_class: int, now: datetime, horizon_s: float) -> float:
    """Cloud jobs of ``gpu_class`` expected within ``horizon_s`` from now, by the
    forecast from the job history (its hour of the week, over the last weeks)."""
    return cloud_forecast(now).expected(gpu_class, now, horizon_s)


def pause(instance: CloudInstance, decision: IdleDecision) -> bool:
    """Pause an idle instance at its provider; a job that landed on it meanwhile
    is requeued. Returns whether it is paused."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.AIMA_LAUNCH_TIMEOUT_S)
    if not transition(instance.pk, InstanceState.PAUSING, AVAILABLE, due_at=lease,
                      idle_decision=decision.to_dict()):
        return False
    trail.record(trail.SYSTEM, "instance.pausing", f"instance:{instance.pk}",
                 decision=decision.to_dict())
    return finish_pause(instance.pk)


def finish_pause(instance_id: int) -> bool:
    """Pause a pausing instance at its provider (again, for one whose control
    worker was lost: pausing is idempotent) and mark it paused."""
    instance = CloudInstance.objects.get(pk=instance_id)
    try:
        provider = providers().get(instance.provider)
        provider.pause(instance.provider_instance_id)
        paused_price = provider.paused_price_per_hour(DISK_GB)
    except (ProviderError, LookupError) as exc:
        # Idle again, its grace anew: the policy decides once more after it.
        log.warning("pausing %s failed: %s", instance.name, exc)
        transition(instance_id, InstanceState.IDLE, [InstanceState.PAUSING],
                   idle_since=timezone.now(), error=str(exc)[:ERROR_CHARS])
        return False
    now = timezone.now()
    requeued = []
    if instance.agent is not None:
        # Its host is gone: what its agent held goes to the next one at once.
        requeued = release_units(instance.agent, f"its instance {instance.name} was paused",
                                 actor=trail.SYSTEM)
    if not transition(instance_id, InstanceState.PAUSED, [InstanceState.PAUSING],
                      due_at=None, idle_since=None, paused_price_per_hour=paused_price,
                      pauses=[*instance.pauses, [now.isoformat(), None]]):
        return False
    trail.record(trail.SYSTEM, "instance.paused", f"instance:{instance_id}",
                 paused_price_per_hour=round(paused_price, 6),
                 requeued=sorted({unit["job_id"] for unit in requeued}))
    return True


def claim_resume(instance: CloudInstance, job_id: str) -> bool:
    """Mark a paused instance resuming for ``job_id`` (under capacity's lock);
    the provider is asked once the transaction commits."""
    now = timezone.now()
    pauses = [list(span) for span in instance.pauses]
    if pauses and pauses[-1][1] is None:
        pauses[-1][1] = now.isoformat()  # paused billing ends here
    if not transition(instance.pk, InstanceState.RESUMING, [InstanceState.PAUSED],
                      resumed_at=now, pauses=pauses):
        return False
    trail.record(trail.SYSTEM, "instance.resuming", f"instance:{instance.pk}", job=job_id)
    transaction.on_commit(lambda: resume_at_provider(instance.pk))
    return True


def resume_at_provider(instance_id: int) -> bool:
    """Ask the provider to start a resuming instance; one that cannot resume is
    ended (the next tick asks for a new instance for its work)."""
    instance = CloudInstance.objects.get(pk=instance_id)
    if instance.state != InstanceState.RESUMING:
        return False
    try:
        providers().get(instance.provider).resume(instance.provider_instance_id)
    except (ProviderError, LookupError) as exc:
        log.warning("resuming %s failed: %s", instance.name, exc)
        terminate(instance, f"it could not be resumed: {exc}", failed=True)
        return False
    return True


def resumed(instance: CloudInstance, now: datetime) -> bool:
    """Its agent registered again after a resume: ready, its idle grace anew."""
    if not transition(instance.pk, InstanceState.READY, [InstanceState.RESUMING],
                      idle_since=now, error=""):
        return False
    resume_s = (now - instance.resumed_at).total_seconds() if instance.resumed_at else None
    trail.record(trail.SYSTEM, "instance.resumed", f"instance:{instance.pk}",
                 agent=instance.agent_id, resume_s=resume_s)
    return True


def check_paused(now: datetime) -> dict[str, int]:
    """End paused instances past the pause grace and resumes that timed out;
    finish pauses whose control worker was lost."""
    counts = {"pause_ended": 0, "resume_timeouts": 0}
    for instance in CloudInstance.objects.filter(state=InstanceState.PAUSED):
        if not instance.pauses:
            continue
        # This pause's length decides; the trail notes all of its pauses.
        paused_for = (now - datetime.fromisoformat(instance.pauses[-1][0])).total_seconds()
        if decide_paused(paused_for, settings.AIMA_PAUSE_GRACE_S) == IdleAction.TERMINATE:
            counts["pause_ended"] += terminate(
                instance, f"paused for {settings.AIMA_PAUSE_GRACE_S} s (AIMA_PAUSE_GRACE_S); "
                          f"{instance.paused_seconds(until=now):.0f} s paused in all")
    limit = now - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S)
    for instance in CloudInstance.objects.filter(state=InstanceState.RESUMING,
                                                 resumed_at__lt=limit):
        counts["resume_timeouts"] += terminate(
            instance, f"its agent did not register within {settings.AIMA_BOOT_TIMEOUT_S} s "
                      f"of its resume", failed=True)
    for instance in CloudInstance.objects.filter(state=InstanceState.PAUSING, due_at__lte=now):
        finish_pause(instance.pk)
    return counts
