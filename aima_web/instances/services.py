"""The instance lifecycle: rent a cloud GPU when queued work needs one, end it
when the work is done, and never leave one billing without a job.

requested → provisioning → booting → ready (its agent registered) → busy ↔
idle → terminating → terminated, or failed. Every move is a conditional
update, so the beat's tick, launch tasks and agent callbacks may race safely.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from aima_tasks import broker
from aima_tasks.routing import Scope
from aima_web.audit import trail
from aima_web.fleet.credentials import digest, new_secret
from aima_web.fleet.models import Agent, EnrollmentToken
from aima_web.instances.models import (
    BILLABLE,
    ENDED,
    CloudInstance,
    InstanceState,
)
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement import services as placement
from aima_web.placement.models import CloudOffer
from providers import registry as provider_registry
from providers.base import (
    DEPLOYMENT_TAG,
    AuthError,
    LaunchSpec,
    NotFoundError,
    Offer,
    ProviderError,
    Requirements,
)
from providers.base import (
    InstanceState as ProviderState,
)

log = logging.getLogger(__name__)

# Waiting for a launch slot (REQUESTED) or an agent: these take queued work.
WAITING_FOR_WORK = (InstanceState.REQUESTED, InstanceState.PROVISIONING,
                    InstanceState.BOOTING, InstanceState.READY, InstanceState.IDLE)

_registry: provider_registry.Registry | None = None


def providers() -> provider_registry.Registry:
    """The enabled providers, loaded once per process."""
    global _registry
    if _registry is None:
        _registry = provider_registry.load()
        local = _registry.providers.get("local")
        if local is not None:
            local.fleet_source = lambda: list(placement.fleet_state(timezone.localtime()).gpus)
        for name, problem in _registry.broken.items():
            log.error("provider %s is enabled but broken: %s", name, problem)
    return _registry


def reload_providers() -> provider_registry.Registry:
    global _registry
    _registry = None
    return providers()


def deployment_tags() -> dict[str, str]:
    return {DEPLOYMENT_TAG: settings.AIMA_DEPLOYMENT_ID}


def move(instance_id: int, to: InstanceState, sources: Iterable[InstanceState],
         **fields: Any) -> bool:
    """Move an instance if it is in one of ``sources``; return whether it moved."""
    moved = CloudInstance.objects.filter(pk=instance_id, state__in=list(sources)).update(
        state=to, **fields)
    return moved == 1


# ---------------------------------------------------------------- prices

def refresh_offers() -> dict[str, str]:
    """Store every enabled cloud provider's live offers in place of its old
    ones; return the providers that failed, with why."""
    failures: dict[str, str] = {}
    for name, provider in providers().providers.items():
        if name == "local":
            continue  # the local fleet is placed from its own rows
        try:
            offers = provider.offers(Requirements())
        except ProviderError as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        with transaction.atomic():
            CloudOffer.objects.filter(provider=name).delete()
            placement.store_offers(offers)
    return failures


# ---------------------------------------------------------------- demand

@dataclass(frozen=True)
class Want:
    gpu_class: int
    offer: dict  # the placement's choice for the oldest waiting job


def queued_cloud_jobs() -> list[Job]:
    return list(Job.objects.filter(state=JobState.QUEUED, placement__scope=Scope.CLOUD.value)
                .order_by("-priority", "queued_at"))


def ensure_capacity(now: datetime | None = None) -> list[int]:
    """Request an instance for every queued cloud job no instance is waiting
    to take, within the caps; return the new instances' ids."""
    now = now or timezone.now()
    jobs = queued_cloud_jobs()
    waiting: dict[int, int] = {}
    for gpu_class in {job.placement["gpu_class"] for job in jobs}:
        waiting[gpu_class] = CloudInstance.objects.filter(
            gpu_class=gpu_class, state__in=WAITING_FOR_WORK).count()
    created: list[int] = []
    held: list[tuple[str, str]] = []
    for job in jobs:
        gpu_class = job.placement["gpu_class"]
        if waiting.get(gpu_class, 0) > 0:
            waiting[gpu_class] -= 1
            if job.wait_reason:
                Job.objects.filter(pk=job.pk).update(wait_reason="")
            continue
        choice = job.placement["choice"]
        reason = cap_reason(choice["provider"], gpu_class, choice["price_per_hour"])
        if reason:
            held.append((str(job.pk), reason))
            continue
        instance = CloudInstance.objects.create(
            provider=choice["provider"], offer_id=choice["offer_id"],
            instance_type=choice.get("instance_type", ""), gpu_model=choice["gpu_model"],
            gpu_class=gpu_class, region=choice.get("region", ""), spot=choice["spot"],
            price_per_hour=choice["price_per_hour"], requested_at=now)
        trail.record(trail.SYSTEM, "instance.requested", f"instance:{instance.pk}",
                     job=str(job.pk), provider=instance.provider, offer=instance.offer_id)
        created.append(instance.pk)
        if job.wait_reason:
            Job.objects.filter(pk=job.pk).update(wait_reason="")
    for job_id, reason in held:
        Job.objects.filter(pk=job_id).exclude(wait_reason=reason).update(wait_reason=reason)
    return created


def cap_reason(provider: str, gpu_class: int, price_per_hour: float) -> str:
    """Why one more instance may not be launched now, or '' if it may."""
    live = CloudInstance.objects.exclude(state__in=ENDED)
    limit = settings.AIMA_MAX_INSTANCES_PER_CLASS
    if live.filter(provider=provider, gpu_class=gpu_class).count() >= limit:
        return (f"waiting: {limit} {provider} instance(s) of the {gpu_class} GB class are "
                f"running already (AIMA_MAX_INSTANCES_PER_CLASS)")
    cap = settings.AIMA_MAX_SPEND_PER_HOUR
    if cap:
        # Instances asked for but not launched yet will bill too.
        spend = live.aggregate(total=Sum("price_per_hour"))["total"] or 0.0
        if spend + price_per_hour > cap:
            return (f"waiting: instances already cost {spend:.2f} per hour; one more would "
                    f"pass the cap of {cap:.2f} (AIMA_MAX_SPEND_PER_HOUR)")
    return ""


# ---------------------------------------------------------------- launching

def launch(instance_id: int) -> str:
    """Ask the provider for the instance; on a refusal, pick the next offer.
    Returns what happened, for the task's log: launched, retry, failed, skipped."""
    if not move(instance_id, InstanceState.PROVISIONING, [InstanceState.REQUESTED]):
        return "skipped"
    instance = CloudInstance.objects.get(pk=instance_id)
    try:
        provider = providers().get(instance.provider)
        offer = offer_for(instance)
        token, secret = enrollment_for(instance)
        launched = provider.launch(offer, launch_spec(instance, secret))
    except (ProviderError, LookupError) as exc:
        return launch_failed(instance, exc)
    if not move(instance_id, InstanceState.BOOTING, [InstanceState.PROVISIONING],
                provider_instance_id=launched.instance_id, launched_at=timezone.now(),
                price_per_hour=launched.price_per_hour or instance.price_per_hour,
                enrollment_token=token, attempts=instance.attempts + 1):
        # Cancelled while the provider was asked: give it back at once.
        provider.terminate(launched.instance_id)
        return "skipped"
    trail.record(trail.SYSTEM, "instance.launched", f"instance:{instance_id}",
                 provider=instance.provider, provider_instance_id=launched.instance_id,
                 offer=offer.key, price_per_hour=launched.price_per_hour)
    return "launched"


def offer_for(instance: CloudInstance) -> Offer:
    row = CloudOffer.objects.filter(key=instance.offer_id).first()
    if row is not None:
        return row.to_offer()
    # Refreshed away since placement: the provider's live offer of that key.
    wanted = Requirements(min_vram_gb=instance.gpu_class * 0.97)
    for offer in providers().get(instance.provider).offers(wanted):
        if offer.key == instance.offer_id:
            return offer
    raise LookupError(f"offer {instance.offer_id} is no longer offered")


def enrollment_for(instance: CloudInstance) -> tuple[EnrollmentToken, str]:
    """A token only this instance's agent can enrol with, valid while it boots."""
    secret = new_secret()
    token = EnrollmentToken.objects.create(
        label=f"{instance.name} ({instance.provider})", token_hash=digest(secret),
        expires_at=timezone.now() + timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S * 2))
    return token, secret


def launch_spec(instance: CloudInstance, secret: str) -> LaunchSpec:
    env = {
        "AIMA_CONTROL_PLANE_URL": settings.AIMA_PUBLIC_URL,
        "AIMA_AGENT_TOKEN": secret,
        "AIMA_AGENT_SCOPE": Scope.CLOUD.value,
        "AIMA_AGENT_NAME": instance.name,
        "AIMA_BROKER_URL": settings.AIMA_AGENT_BROKER_URL,
    }
    if broker.is_embedded(settings.AIMA_AGENT_BROKER_URL):
        # The embedded broker is a folder: only an agent on this machine,
        # sharing it, can reach it.
        env["AIMA_VAR_DIR"] = str(settings.VAR_DIR)
    tags = {**deployment_tags(), "aima-instance": str(instance.pk)}
    return LaunchSpec(name=instance.name, image=settings.AIMA_AGENT_IMAGE, env=env,
                      command=settings.AIMA_AGENT_COMMAND, tags=tags, spot=instance.spot,
                      bid_per_hour=instance.price_per_hour if instance.spot else None)


def launch_failed(instance: CloudInstance, exc: Exception) -> str:
    """A transient error tries the same offer again; a refusal (capacity,
    quota, credentials) moves on to the next offer; both with backoff, up to
    ``AIMA_LAUNCH_ATTEMPTS``."""
    error = f"{type(exc).__name__}: {exc}"
    attempts = instance.attempts + 1
    log.warning("launching %s on %s failed: %s", instance.name, instance.offer_id, error)
    trail.record(trail.SYSTEM, "instance.launch_failed", f"instance:{instance.pk}",
                 offer=instance.offer_id, error=error[:500])
    if isinstance(exc, ProviderError) and exc.retryable:
        tried, following = instance.tried_offers, offer_for_retry(instance)
    else:
        tried = [*instance.tried_offers, instance.offer_id]
        # Bad credentials will not get better by trying that provider again.
        skip = {instance.provider} if isinstance(exc, AuthError | LookupError) else set()
        following = next_offer(instance.gpu_class, tried, skip)
    same = following is not None and following.key == instance.offer_id
    if attempts >= settings.AIMA_LAUNCH_ATTEMPTS or following is None:
        move(instance.pk, InstanceState.FAILED, [InstanceState.PROVISIONING],
             error=error[:4000], tried_offers=tried, attempts=attempts,
             terminated_at=timezone.now())
        return "failed"
    move(instance.pk, InstanceState.REQUESTED, [InstanceState.PROVISIONING],
         error=error[:4000], tried_offers=tried, attempts=attempts,
         provider=following.provider, offer_id=following.key,
         instance_type=following.instance_type, gpu_model=following.gpu_model,
         region=following.region,
         # The same offer again keeps its terms (a spot bid stays a spot bid).
         price_per_hour=instance.price_per_hour if same else following.price_per_hour,
         spot=instance.spot and same)
    return "retry"


def offer_for_retry(instance: CloudInstance) -> Offer | None:
    try:
        return offer_for(instance)
    except (ProviderError, LookupError):
        return None


def next_offer(gpu_class: int, tried: list[str], skip_providers: set[str]) -> Offer | None:
    """The cheapest stored on-demand offer of an enabled provider for the class
    that has not failed this instance yet."""
    enabled = set(providers().providers) - skip_providers - {"local"}
    rows = (CloudOffer.objects.filter(provider__in=enabled,
                                      vram_gb__gte=gpu_class * 0.97)
            .exclude(key__in=tried).order_by("price_per_hour", "key"))
    row = rows.first()
    return row.to_offer() if row is not None else None


def retry_delay_s(attempts: int) -> float:
    return min(2.0 ** attempts, 60.0)


# ---------------------------------------------------------------- agents and jobs

def agent_registered(agent: Agent, token: EnrollmentToken) -> None:
    instance = CloudInstance.objects.filter(enrollment_token=token).first()
    if instance is None:
        return
    now = timezone.now()
    if move(instance.pk, InstanceState.READY, [InstanceState.BOOTING], agent=agent,
            ready_at=now, idle_since=now):
        trail.record(trail.SYSTEM, "instance.ready", f"instance:{instance.pk}",
                     agent=agent.pk, boot_s=(now - instance.launched_at).total_seconds()
                     if instance.launched_at else None)


def job_started(agent_id: int) -> None:
    CloudInstance.objects.filter(agent_id=agent_id, state__in=[
        InstanceState.READY, InstanceState.IDLE]).update(state=InstanceState.BUSY,
                                                         idle_since=None)


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
        Job.objects.filter(pk=job_id).update(cost=instance.price_per_hour * seconds / 3600)
    move(instance.pk, InstanceState.IDLE, [InstanceState.BUSY], idle_since=now)


# ---------------------------------------------------------------- ending

def terminate(instance: CloudInstance, why: str, failed: bool = False) -> bool:
    """End an instance at its provider and account its cost."""
    ending = BILLABLE if not failed else (*BILLABLE, InstanceState.REQUESTED)
    if not move(instance.pk, InstanceState.TERMINATING, ending):
        return False
    if instance.provider_instance_id:
        try:
            providers().get(instance.provider).terminate(instance.provider_instance_id)
        except (ProviderError, LookupError) as exc:
            # Stays "terminating": the next tick tries again, the reconciler too.
            log.warning("terminating %s failed: %s", instance.name, exc)
            CloudInstance.objects.filter(pk=instance.pk).update(error=str(exc)[:4000])
            return False
    finish_termination(instance.pk, why, failed)
    return True


def finish_termination(instance_id: int, why: str, failed: bool = False) -> None:
    now = timezone.now()
    instance = CloudInstance.objects.get(pk=instance_id)
    cost = instance.price_per_hour * instance.billed_seconds(until=now) / 3600
    move(instance_id, InstanceState.FAILED if failed else InstanceState.TERMINATED,
         [InstanceState.TERMINATING], terminated_at=now, cost=cost,
         **({"error": why} if failed else {}))
    if instance.enrollment_token_id:
        EnrollmentToken.objects.filter(pk=instance.enrollment_token_id).update(revoked=True)
    trail.record(trail.SYSTEM, "instance.failed" if failed else "instance.terminated",
                 f"instance:{instance_id}", why=why, cost=round(cost, 6),
                 billed_s=round(instance.billed_seconds(until=now), 1))


def tick(now: datetime | None = None) -> dict[str, int]:
    """The periodic pass: boot timeouts, dead instances, idle ones past their
    grace, busy ones with no job left; then capacity for queued work."""
    now = now or timezone.now()
    counts = {"boot_timeouts": 0, "died": 0, "idle_ended": 0, "stuck": 0}
    boot_limit = now - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S)
    # A control worker that died while asking the provider leaves an instance
    # "provisioning" for good; what the provider started meanwhile carries our
    # tag, and the reconciler ends it.
    for instance in CloudInstance.objects.filter(state=InstanceState.PROVISIONING,
                                                 requested_at__lt=boot_limit):
        counts["stuck"] += move(instance.pk, InstanceState.FAILED, [InstanceState.PROVISIONING],
                                error="the launch never completed", terminated_at=now)
    for instance in CloudInstance.objects.filter(state=InstanceState.BOOTING):
        if instance.launched_at and instance.launched_at < boot_limit:
            counts["boot_timeouts"] += terminate(
                instance, f"its agent did not register within "
                          f"{settings.AIMA_BOOT_TIMEOUT_S} s", failed=True)
        elif gone_at_provider(instance):
            counts["died"] += terminate(instance, "it ended at the provider while booting",
                                        failed=True)
    # A busy instance whose job ended without telling us (cancelled, lost) is idle.
    for instance in CloudInstance.objects.filter(state=InstanceState.BUSY):
        if not Job.objects.filter(agent_id=instance.agent_id, state=JobState.RUNNING).exists():
            move(instance.pk, InstanceState.IDLE, [InstanceState.BUSY], idle_since=now)
    grace = now - timedelta(seconds=settings.AIMA_IDLE_GRACE_S)
    demand = {c["placement__gpu_class"] for c in Job.objects.filter(
        state=JobState.QUEUED, placement__scope=Scope.CLOUD.value).values("placement__gpu_class")}
    for instance in CloudInstance.objects.filter(
            state__in=[InstanceState.READY, InstanceState.IDLE], idle_since__lte=grace):
        # Queued work of its class is on its way to it: keep it.
        if instance.gpu_class in demand:
            continue
        counts["idle_ended"] += terminate(instance, f"idle for {settings.AIMA_IDLE_GRACE_S} s")
    for instance in CloudInstance.objects.filter(state=InstanceState.TERMINATING):
        terminate_again(instance)
    counts["requested"] = len(ensure_capacity(now))
    return counts


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


def terminate_again(instance: CloudInstance) -> None:
    try:
        providers().get(instance.provider).terminate(instance.provider_instance_id)
    except (ProviderError, LookupError) as exc:
        log.warning("terminating %s failed again: %s", instance.name, exc)
        return
    finish_termination(instance.pk, instance.error or "terminated on retry")


# ---------------------------------------------------------------- reconciling

def reconcile(now: datetime | None = None) -> dict[str, list[str]]:
    """Make the providers and the database agree: terminate every tagged
    instance the database does not know or has ended, and mark instances the
    provider no longer has as terminated."""
    now = now or timezone.now()
    report: dict[str, list[str]] = {"terminated_unknown": [], "marked_vanished": []}
    for name, provider in providers().providers.items():
        try:
            listed = provider.list_instances(deployment_tags())
        except ProviderError as exc:
            log.warning("reconciling %s: could not list instances: %s", name, exc)
            continue
        seen = {instance.instance_id for instance in listed}
        known = {row.provider_instance_id: row for row in CloudInstance.objects.filter(
            provider=name, provider_instance_id__in=seen)}
        for instance in listed:
            row = known.get(instance.instance_id)
            if row is None or row.state in ENDED:
                try:
                    provider.terminate(instance.instance_id)
                except ProviderError as exc:
                    log.warning("reconciling %s: could not terminate %s: %s", name,
                                instance.instance_id, exc)
                    continue
                report["terminated_unknown"].append(f"{name}:{instance.instance_id}")
                trail.record(trail.SYSTEM, "instance.reconciled", f"{name}:{instance.instance_id}",
                             why="billed by the provider but unknown or ended here")
        # Launched a while ago, billable here, but gone at the provider.
        settled = now - timedelta(seconds=30)
        for row in CloudInstance.objects.filter(provider=name, state__in=BILLABLE,
                                                launched_at__lt=settled).exclude(
                Q(provider_instance_id="") | Q(provider_instance_id__in=seen)):
            CloudInstance.objects.filter(pk=row.pk).update(state=InstanceState.TERMINATING)
            finish_termination(row.pk, "vanished at the provider")
            report["marked_vanished"].append(f"{name}:{row.provider_instance_id}")
    return report
