"""The instance lifecycle: rent a cloud GPU when queued work needs one, end it
when the work is done, and never leave one billing without a job.

requested → provisioning → booting → ready (its agent registered) → busy ↔
idle → terminating → terminated, or failed. Every move is a conditional
update, so the beat's tick, launch tasks and agent callbacks may race safely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from aima_tasks.kernel.routing import Scope
from aima_web.audit import trail
from aima_web.fleet.models import Agent, EnrollmentToken
from aima_web.fleet.services import create_enrollment_token, revoke_token
from aima_web.instances import billing, broker_accounts
from aima_web.instances.broker_accounts import BrokerAccountError
from aima_web.instances.models import (
    BILLABLE,
    ENDED,
    CloudInstance,
    InstanceState,
)
from aima_web.jobs import services as jobs
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement import services as placement
from aima_web.placement.models import CloudOffer, PlacementPolicy
from providers import registry as provider_registry
from providers.base import (
    DEPLOYMENT_TAG,
    INSTANCE_TAG,
    AuthError,
    LaunchSpec,
    NotFoundError,
    Offer,
    ProviderError,
    Requirements,
    TransientError,
)
from providers.base import Instance as ProviderInstance
from providers.base import (
    InstanceState as ProviderState,
)

log = logging.getLogger(__name__)

# Waiting for a launch slot (REQUESTED) or an agent: these take queued work.
WAITING_FOR_WORK = (InstanceState.REQUESTED, InstanceState.PROVISIONING,
                    InstanceState.BOOTING, InstanceState.READY, InstanceState.IDLE)

# A job stranded on an ended instance is given up once a newer instance of its
# class has been idle this long (at least the idle grace) without taking it.
LOST_JOB_WAIT_S = 60
# A launch message sent and not yet taken is not sent again for this long; a
# lost one (its control worker died before taking it) is sent again after it.
DISPATCH_LEASE_S = 60

_registry: provider_registry.Registry | None = None
_registry_lock = threading.Lock()


def providers() -> provider_registry.Registry:
    """The enabled providers, loaded once per process (launch threads share them)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = provider_registry.load()
            local = _registry.providers.get("local")
            if local is not None:
                local.fleet_source = lambda: list(
                    placement.fleet_state(timezone.localtime()).gpus)
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

def cloud_demand() -> list[Job]:
    """The cloud jobs that want an instance, most urgent first: those queued,
    and those stranded on an instance that ended under them."""
    queued = Job.objects.filter(placement__scope=Scope.CLOUD.value, state=JobState.QUEUED)
    return list((queued | stranded_jobs()).order_by("-priority", "queued_at"))


def stranded_jobs() -> QuerySet[Job]:
    """Cloud jobs still running on an instance that has ended: their task goes
    back to the queue when the agent's broker connection drops (acks_late),
    for a new instance to take up."""
    return Job.objects.filter(placement__scope=Scope.CLOUD.value, state=JobState.RUNNING,
                              agent__instance__state__in=(*ENDED, InstanceState.TERMINATING))


def give_up_lost_jobs(now: datetime) -> int:
    """Fail the stranded jobs that a newer instance of their class has been
    idle next to for ``LOST_JOB_WAIT_S`` without taking them up: their task is
    gone (it finished with its result undelivered, or was dropped)."""
    waited = now - timedelta(seconds=max(settings.AIMA_IDLE_GRACE_S, LOST_JOB_WAIT_S))
    lost = 0
    for job in stranded_jobs().select_related("agent__instance"):
        ended = job.agent.instance
        if CloudInstance.objects.filter(
                gpu_class=job.placement["gpu_class"], ready_at__gt=ended.terminated_at or now,
                state__in=[InstanceState.READY, InstanceState.IDLE],
                idle_since__lte=waited).exists():
            lost += jobs.fail(str(job.pk), f"lost: its instance {ended.name} ended while it ran, "
                                           f"and no instance took it up again")
    return lost


def ensure_capacity(now: datetime | None = None) -> list[int]:
    """Request an instance for every queued cloud job that no instance is
    waiting to take and no busy one will be free for sooner than a new one
    boots, within the caps; return the new instances' ids."""
    now = now or timezone.now()
    jobs = cloud_demand()
    waiting: dict[int, int] = {}
    for gpu_class in {job.placement["gpu_class"] for job in jobs}:
        waiting[gpu_class] = CloudInstance.objects.filter(
            gpu_class=gpu_class, state__in=WAITING_FOR_WORK).count()
    finishing = finishing_soon(now)
    # The same for every job of this pass: worked out once.
    spent = budget_spent(now) if jobs else ""
    failed = recently_failed_offers(now)
    created: list[int] = []
    held: list[tuple[str, str]] = []
    for job in jobs:
        gpu_class = job.placement["gpu_class"]
        if waiting.get(gpu_class, 0) > 0:
            waiting[gpu_class] -= 1
            if job.wait_reason:
                Job.objects.filter(pk=job.pk).update(wait_reason="")
            continue
        # A busy instance that is done sooner than a new one would boot takes it next.
        free_in = finishing.get(gpu_class, [])
        if free_in and free_in[0][1] <= job.placement["choice"].get("wait_s", 0.0):
            name, seconds = free_in.pop(0)
            held.append((str(job.pk), f"waiting: {name} finishes its job in about "
                                      f"{seconds:.0f} s, sooner than a new instance would "
                                      f"boot"))
            continue
        offer = offer_to_rent(job.placement["choice"], gpu_class, failed.get(gpu_class, []))
        reason = spent or cap_reason(offer.provider, gpu_class, offer.price_per_hour)
        if reason:
            held.append((str(job.pk), reason))
            continue
        instance = CloudInstance.objects.create(
            provider=offer.provider, offer_id=offer.offer_id, instance_type=offer.instance_type,
            gpu_model=offer.gpu_model, gpu_class=gpu_class, region=offer.region, spot=offer.spot,
            price_per_hour=offer.price_per_hour, requested_at=now, due_at=now)
        trail.record(trail.SYSTEM, "instance.requested", f"instance:{instance.pk}",
                     job=str(job.pk), provider=instance.provider, offer=instance.offer_id)
        created.append(instance.pk)
        if job.wait_reason:
            Job.objects.filter(pk=job.pk).update(wait_reason="")
    for job_id, reason in held:
        Job.objects.filter(pk=job_id).exclude(wait_reason=reason).update(wait_reason=reason)
    return created


@dataclass(frozen=True)
class Rental:
    """The offer an instance is asked for."""

    provider: str
    offer_id: str
    instance_type: str
    gpu_model: str
    region: str
    spot: bool
    price_per_hour: float


def recently_failed_offers(now: datetime) -> dict[int, list[str]]:
    """By GPU class, the offers whose instances failed to boot within
    ``AIMA_FAILED_OFFER_COOLDOWN_S`` (a broken host, an image that does not
    start there)."""
    since = now - timedelta(seconds=settings.AIMA_FAILED_OFFER_COOLDOWN_S)
    failed: dict[int, list[str]] = {}
    for gpu_class, offer_id in CloudInstance.objects.filter(
            state=InstanceState.FAILED, terminated_at__gte=since, launched_at__isnull=False
    ).order_by().values_list("gpu_class", "offer_id").distinct():
        failed.setdefault(gpu_class, []).append(offer_id)
    return failed


def offer_to_rent(choice: dict[str, Any], gpu_class: int, failed: list[str]) -> Rental:
    """The placement's choice, unless it is among the ``failed`` offers of
    its class: then the cheapest stored offer of the class that is not. With
    no other offer, the choice again: better another try than a stranded job."""
    if choice["offer_id"] in failed:
        other = next_offer(gpu_class, failed, set())
        if other is not None:
            return Rental(provider=other.provider, offer_id=other.key,
                          instance_type=other.instance_type, gpu_model=other.gpu_model,
                          region=other.region, spot=False, price_per_hour=other.price_per_hour)
    return Rental(provider=choice["provider"], offer_id=choice["offer_id"],
                  instance_type=choice.get("instance_type", ""), gpu_model=choice["gpu_model"],
                  region=choice.get("region", ""), spot=choice["spot"],
                  price_per_hour=choice["price_per_hour"])


def finishing_soon(now: datetime) -> dict[int, list[tuple[str, float]]]:
    """Busy instances by class, with the seconds their running job is
    expected to take still, soonest first. A job past its estimate says
    nothing of when it ends: its instance is left out."""
    found: dict[int, list[tuple[str, float]]] = {}
    busy = list(CloudInstance.objects.filter(state=InstanceState.BUSY, agent__isnull=False))
    running = {job.agent_id: job for job in Job.objects.filter(
        agent_id__in=[i.agent_id for i in busy], state=JobState.RUNNING,
        running_at__isnull=False)}
    for instance in busy:
        job = running.get(instance.agent_id)
        if job is None:
            continue
        expected = float((job.placement.get("choice") or {}).get("runtime_s") or 0.0)
        left = expected - (now - job.running_at).total_seconds()
        if left >= 0:
            found.setdefault(instance.gpu_class, []).append((instance.name, left))
    for queue in found.values():
        queue.sort(key=lambda item: item[1])
    return found


def cap_reason(provider: str, gpu_class: int, price_per_hour: float) -> str:
    """Why one more instance of this offer may not be launched now, or '' if it may."""
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


def budget_spent(now: datetime) -> str:
    """Why nothing more may be rented this month, or '': jobs were placed
    within the monthly budget, but the bill may have reached it since."""
    budget = PlacementPolicy.current().monthly_budget
    if budget is None:
        return ""
    billed = billing.billed_this_month(now)
    if billed < budget:
        return ""
    return (f"waiting: {billed:.2f} of this month's cloud budget of {budget:.2f} is spent "
            f"(the placement policy's monthly budget)")


# ---------------------------------------------------------------- dispatching launches

def claim_due_launches(now: datetime | None = None) -> list[int]:
    """The requested instances whose launch is due, each claimed for one
    launch message: the caller sends them."""
    now = now or timezone.now()
    due = CloudInstance.objects.filter(Q(due_at__lte=now) | Q(due_at__isnull=True),
                                       state=InstanceState.REQUESTED)
    lease = now + timedelta(seconds=DISPATCH_LEASE_S)
    # One by one and conditionally: two ticks racing claim each instance once.
    return [instance_id for instance_id in due.values_list("pk", flat=True)
            if due.filter(pk=instance_id).update(due_at=lease)]


# ---------------------------------------------------------------- launching

def launch(instance_id: int) -> str:
    """Ask the provider for the instance; on a refusal, pick the next offer.
    Returns what happened, for the task's log: launched, retry, failed, skipped."""
    started = timezone.now()
    if not move(instance_id, InstanceState.PROVISIONING, [InstanceState.REQUESTED],
                due_at=started + timedelta(seconds=settings.AIMA_LAUNCH_TIMEOUT_S)):
        return "skipped"
    instance = CloudInstance.objects.get(pk=instance_id)
    try:
        provider = providers().get(instance.provider)
        offer = offer_for(instance)
        # Stored before the provider is asked: an agent that comes up after
        # its control worker died is still recognised as this instance's.
        secret = enrol(instance)
        launched = provider.launch(offer, launch_spec(instance, secret))
    except (ProviderError, LookupError, BrokerAccountError) as exc:
        return launch_failed(instance, exc)
    launched_fields = {"provider_instance_id": launched.instance_id, "launched_at": started,
                       "price_per_hour": launched.price_per_hour or instance.price_per_hour,
                       "attempts": instance.attempts + 1}
    if not move(instance_id, InstanceState.BOOTING, [InstanceState.PROVISIONING],
                **launched_fields):
        # Its agent registered before the provider answered: it is running.
        if CloudInstance.objects.filter(pk=instance_id, provider_instance_id="").exclude(
                state__in=(*ENDED, InstanceState.TERMINATING)).update(**launched_fields):
            return "launched"
        # Ended while the provider was asked: give it back at once.
        provider.terminate(launched.instance_id)
        return "skipped"
    trail.record(trail.SYSTEM, "instance.launched", f"instance:{instance_id}",
                 provider=instance.provider, provider_instance_id=launched.instance_id,
                 offer=offer.key, price_per_hour=launched.price_per_hour)
    return "launched"


def instance_tags(instance_id: int) -> dict[str, str]:
    return {**deployment_tags(), INSTANCE_TAG: str(instance_id)}


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


def enrol(instance: CloudInstance) -> str:
    """Give the instance a token only its agent can enrol with, valid while it
    boots, in place of an earlier attempt's; return the token's secret."""
    token, secret = create_enrollment_token(
        f"{instance.name} ({instance.provider})", scope=Scope.CLOUD, max_uses=1,
        gpu_class=instance.gpu_class,
        expires_at=timezone.now() + timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S * 2))
    revoke_enrollment(instance)
    CloudInstance.objects.filter(pk=instance.pk).update(enrollment_token=token)
    instance.enrollment_token = token
    return secret


def revoke_enrollment(instance: CloudInstance) -> None:
    """The instance's token, and the credential of any agent that enrolled with
    it: a host that ended (or whose launch failed) can no longer register,
    heartbeat, take work or report."""
    if instance.enrollment_token_id:
        revoke_token(instance.enrollment_token_id, trail.SYSTEM)


def launch_spec(instance: CloudInstance, secret: str) -> LaunchSpec:
    env = {
        "AIMA_CONTROL_PLANE_URL": settings.AIMA_PUBLIC_URL,
        "AIMA_AGENT_TOKEN": secret,
        "AIMA_AGENT_NAME": instance.name,
        # A broker user of its own, reading its class's cloud queue only.
        **broker_accounts.agent_env(instance.pk, instance.gpu_class),
    }
    tags = instance_tags(instance.pk)
    return LaunchSpec(name=instance.name, image=settings.AIMA_AGENT_IMAGE, env=env,
                      command=settings.AIMA_AGENT_COMMAND, tags=tags, spot=instance.spot,
                      bid_per_hour=instance.price_per_hour if instance.spot else None)


def launch_failed(instance: CloudInstance, exc: Exception) -> str:
    """A transient error tries the same offer again; a refusal (capacity,
    quota, credentials) moves on to the next offer; both with backoff, up to
    ``AIMA_LAUNCH_ATTEMPTS``."""
    error = f"{type(exc).__name__}: {exc}"
    attempts = instance.attempts + 1
    # A host the failed call started anyway must not enrol: the reconciler ends it.
    revoke_enrollment(instance)
    broker_accounts.remove(instance.pk)
    log.warning("launching %s on %s failed: %s", instance.name, instance.offer_id, error)
    trail.record(trail.SYSTEM, "instance.launch_failed", f"instance:{instance.pk}",
                 offer=instance.offer_id, error=error[:500])
    if isinstance(exc, ProviderError | BrokerAccountError) and exc.retryable:
        tried, following = instance.tried_offers, offer_for_retry(instance)
    else:
        tried = [*instance.tried_offers, instance.offer_id]
        # Bad credentials will not get better by trying that provider again.
        skip = {instance.provider} if isinstance(exc, AuthError | LookupError) else set()
        following = next_offer(instance.gpu_class, tried, skip)
    same = following is not None and following.key == instance.offer_id
    # A missing broker setting fails every offer alike: fail at once, saying which.
    if attempts >= settings.AIMA_LAUNCH_ATTEMPTS or following is None or (
            isinstance(exc, BrokerAccountError) and not exc.retryable):
        move(instance.pk, InstanceState.FAILED, [InstanceState.PROVISIONING],
             error=error[:4000], tried_offers=tried, attempts=attempts,
             terminated_at=timezone.now())
        return "failed"
    move(instance.pk, InstanceState.REQUESTED, [InstanceState.PROVISIONING],
         error=error[:4000], tried_offers=tried, attempts=attempts,
         due_at=timezone.now() + timedelta(seconds=retry_delay_s(attempts)),
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
    # Provisioning too: the agent may come up before the provider's API answers.
    if move(instance.pk, InstanceState.READY,
            [InstanceState.PROVISIONING, InstanceState.BOOTING], agent=agent,
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
    # Jobs end on the control worker after the agent has moved on: the next
    # one may be running already.
    if not Job.objects.filter(agent_id=job.agent_id, state=JobState.RUNNING).exists():
        move(instance.pk, InstanceState.IDLE, [InstanceState.BUSY], idle_since=now)


# ---------------------------------------------------------------- ending

def terminate(instance: CloudInstance, why: str, failed: bool = False) -> bool:
    """End an instance at its provider and account its cost."""
    ending = BILLABLE if not failed else (*BILLABLE, InstanceState.REQUESTED)
    if not move(instance.pk, InstanceState.TERMINATING, ending):
        return False
    try:
        provider = providers().get(instance.provider)
        if instance.provider_instance_id:
            provider.terminate(instance.provider_instance_id)
        elif instance.state != InstanceState.REQUESTED:
            # Its launch was cut short: the provider knows its host by the tag.
            hosts = provider.list_instances(instance_tags(instance.pk))
            if hosts:
                record_host(instance, hosts[0])
            for host in hosts:
                provider.terminate(host.instance_id)
    except (ProviderError, LookupError) as exc:
        # Stays "terminating": the next tick tries again, the reconciler too.
        log.warning("terminating %s failed: %s", instance.name, exc)
        CloudInstance.objects.filter(pk=instance.pk).update(error=str(exc)[:4000])
        return False
    finish_termination(instance.pk, why, failed)
    return True


def record_host(instance: CloudInstance, host: ProviderInstance) -> bool:
    """Learn the provider's id of an instance whose launch was not recorded,
    and bill it from when the provider started it (as far as it says)."""
    return CloudInstance.objects.filter(pk=instance.pk, provider_instance_id="").update(
        provider_instance_id=host.instance_id,
        launched_at=instance.launched_at or host.launched_at or instance.requested_at) == 1


def finish_termination(instance_id: int, why: str, failed: bool = False) -> None:
    now = timezone.now()
    instance = CloudInstance.objects.get(pk=instance_id)
    cost = instance.price_per_hour * instance.billed_seconds(until=now) / 3600
    # Its broker user goes first: an instance shown as ended holds no credential.
    broker_accounts.remove(instance_id)
    move(instance_id, InstanceState.FAILED if failed else InstanceState.TERMINATED,
         [InstanceState.TERMINATING], terminated_at=now, cost=cost,
         **({"error": why} if failed else {}))
    revoke_enrollment(instance)
    trail.record(trail.SYSTEM, "instance.failed" if failed else "instance.terminated",
                 f"instance:{instance_id}", why=why, cost=round(cost, 6),
                 billed_s=round(instance.billed_seconds(until=now), 1))


def tick(now: datetime | None = None) -> dict[str, int]:
    """The periodic pass: boot timeouts, dead instances, idle ones past their
    grace, busy ones with no job left; then capacity for queued work."""
    now = now or timezone.now()
    counts = {"boot_timeouts": 0, "died": 0, "agent_lost": 0, "idle_ended": 0, "recovered": 0}
    boot_limit = now - timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S)
    for instance in CloudInstance.objects.filter(state=InstanceState.PROVISIONING,
                                                 due_at__lte=now):
        counts["recovered"] += recover_launch(instance)
    for instance in CloudInstance.objects.filter(state=InstanceState.BOOTING):
        if instance.launched_at and instance.launched_at < boot_limit:
            counts["boot_timeouts"] += terminate(
                instance, f"its agent did not register within "
                          f"{settings.AIMA_BOOT_TIMEOUT_S} s", failed=True)
        elif gone_at_provider(instance):
            counts["died"] += terminate(instance, "it ended at the provider while booting",
                                        failed=True)
    # An agent that stopped reporting (crashed, its host hung): the host
    # bills for nothing. Its unfinished job goes back to the queue when its
    # broker connection drops (acks_late).
    silent = now - timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
    for instance in CloudInstance.objects.filter(
            state__in=[InstanceState.READY, InstanceState.BUSY, InstanceState.IDLE],
            agent__last_heartbeat__lt=silent):
        counts["agent_lost"] += terminate(
            instance, f"its agent sent no heartbeat for {settings.AIMA_AGENT_OFFLINE_AFTER_S} s",
            failed=True)
    # A busy instance whose job ended without telling us (cancelled, lost) is idle.
    for instance in CloudInstance.objects.filter(state=InstanceState.BUSY):
        if not Job.objects.filter(agent_id=instance.agent_id, state=JobState.RUNNING).exists():
            move(instance.pk, InstanceState.IDLE, [InstanceState.BUSY], idle_since=now)
    grace = now - timedelta(seconds=settings.AIMA_IDLE_GRACE_S)
    demand = {job.placement["gpu_class"] for job in cloud_demand()}
    for instance in CloudInstance.objects.filter(
            state__in=[InstanceState.READY, InstanceState.IDLE], idle_since__lte=grace):
        # Queued work of its class is on its way to it: keep it.
        if instance.gpu_class in demand:
            continue
        # A job it took just now, told of after the one before it ended.
        if Job.objects.filter(agent_id=instance.agent_id, state=JobState.RUNNING).exists():
            move(instance.pk, InstanceState.BUSY, [instance.state], idle_since=None)
            continue
        counts["idle_ended"] += terminate(instance, f"idle for {settings.AIMA_IDLE_GRACE_S} s")
    for instance in CloudInstance.objects.filter(state=InstanceState.TERMINATING):
        terminate_again(instance)
    counts["lost_jobs"] = give_up_lost_jobs(now)
    counts["requested"] = len(ensure_capacity(now))
    return counts


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
            f"(its control worker was lost)")) != "failed"
    adopted, *extra = found
    for host in extra:  # one launch, one host: any more is a leak
        terminate_at_provider(instance.provider, host.instance_id)
    moved = record_host(instance, adopted) and move(
        instance.pk, InstanceState.BOOTING, [InstanceState.PROVISIONING],
        attempts=instance.attempts + 1)
    if moved:
        trail.record(trail.SYSTEM, "instance.adopted", f"instance:{instance.pk}",
                     provider=instance.provider, provider_instance_id=adopted.instance_id)
    return moved


def terminate_at_provider(provider: str, instance_id: str) -> bool:
    try:
        providers().get(provider).terminate(instance_id)
    except (ProviderError, LookupError) as exc:
        log.warning("terminating %s:%s failed: %s", provider, instance_id, exc)
        return False
    return True


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
    instance the database does not know, has ended or already has another
    instance for; learn the id of one whose launch was cut short; and mark
    instances the provider no longer has as terminated."""
    now = now or timezone.now()
    report: dict[str, list[str]] = {"terminated_unknown": [], "adopted": [],
                                    "marked_vanished": []}
    for name, provider in providers().providers.items():
        try:
            listed = provider.list_instances(deployment_tags())
        except ProviderError as exc:
            log.warning("reconciling %s: could not list instances: %s", name, exc)
            continue
        seen = {instance.instance_id for instance in listed}
        rows = CloudInstance.objects.filter(provider=name).filter(
            Q(provider_instance_id__in=seen) | Q(pk__in=[
                int(i.tags[INSTANCE_TAG]) for i in listed
                if i.tags.get(INSTANCE_TAG, "").isdigit()]))
        by_id = {row.provider_instance_id: row for row in rows if row.provider_instance_id}
        by_tag = {str(row.pk): row for row in rows}
        for instance in listed:
            row = by_id.get(instance.instance_id) or by_tag.get(
                instance.tags.get(INSTANCE_TAG, ""))
            verdict = reconciled(row, instance.instance_id)
            if verdict == "keep":
                continue
            subject = f"{name}:{instance.instance_id}"
            if verdict == "adopt":
                if record_host(row, instance):
                    report["adopted"].append(subject)
                continue
            if not terminate_at_provider(name, instance.instance_id):
                continue
            report["terminated_unknown"].append(subject)
            trail.record(trail.SYSTEM, "instance.reconciled", subject,
                         why="billed by the provider but unknown, ended or a duplicate here")
        # Launched a while ago, billable here, but gone at the provider.
        settled = now - timedelta(seconds=30)
        for row in CloudInstance.objects.filter(provider=name, state__in=BILLABLE,
                                                launched_at__lt=settled).exclude(
                Q(provider_instance_id="") | Q(provider_instance_id__in=seen)):
            CloudInstance.objects.filter(pk=row.pk).update(state=InstanceState.TERMINATING)
            finish_termination(row.pk, "vanished at the provider")
            report["marked_vanished"].append(f"{name}:{row.provider_instance_id}")
    # Users a failed deletion left behind (the management API was down).
    report["broker_users_removed"] = broker_accounts.sweep(lambda: set(
        CloudInstance.objects.exclude(state__in=ENDED).values_list("pk", flat=True)))
    return report


def reconciled(row: CloudInstance | None, instance_id: str) -> str:
    """What to do with an instance a provider bills for: keep, adopt (learn
    its id) or terminate."""
    if row is None or row.state in ENDED:
        return "terminate"
    if row.provider_instance_id == instance_id:
        return "keep"
    if row.provider_instance_id:
        return "terminate"  # a second host for one row: a launch that was retried
    if row.state in (InstanceState.REQUESTED, InstanceState.PROVISIONING):
        return "keep"  # its launch is under way; the tick recovers one that was lost
    return "adopt"  # its agent enrolled before the launch was recorded
