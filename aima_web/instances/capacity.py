"""How many instances queued cloud work needs: one for every job that no
instance is waiting to take and no busy one will be free for soon enough, a
paused one of its class resumed before a new one is asked for, within the caps
on instances, hourly spend and the monthly budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from aima_tasks.kernel.placement import Decision, Option
from aima_tasks.kernel.routing import Scope
from aima_web.audit import trail
from aima_web.instances import billing, pausing
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.offers import next_offer
from aima_web.instances.states import BILLED_PAUSED, ENDED, STRANDING, WAITING_FOR_WORK
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement.models import PlacementPolicy

# pg_advisory_xact_lock's key for "deciding which instances demand needs" (any fixed
# 64-bit number, distinct from the audit chain's).
_CAPACITY_LOCK = 0x41494D4143415041  # "AIMACAPA"


@dataclass(frozen=True)
class Demand:
    """A cloud job that wants an instance, and what placement chose for it."""

    job: Job
    gpu_class: int
    choice: Option

    @classmethod
    def of(cls, job: Job) -> Demand:
        decision = Decision.from_dict(job.placement)
        return cls(job=job, gpu_class=decision.gpu_class, choice=decision.choice)


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


def cloud_demand() -> list[Demand]:
    """The cloud jobs that want an instance, most urgent first: those queued,
    and those stranded on an instance that ended under them."""
    queued = Job.objects.filter(placement__scope=Scope.CLOUD.value, state=JobState.QUEUED)
    return [Demand.of(job)
            for job in (queued | stranded_jobs()).order_by("-priority", "queued_at")]


def stranded_jobs() -> QuerySet[Job]:
    """Cloud jobs still running on an instance that has ended or is paused:
    their task goes back to the queue when the agent's broker connection drops
    (acks_late), for a new (or resumed) instance to take up."""
    return Job.objects.filter(placement__scope=Scope.CLOUD.value, state=JobState.RUNNING,
                              agent__instance__state__in=STRANDING)


def ensure_capacity(now: datetime | None = None) -> list[int]:
    """Request an instance for every queued cloud job that no instance is
    waiting to take and no busy one will be free for sooner than a new one
    boots, within the caps; return the new instances' ids."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_capacity()
        return meet_demand(now)


def lock_capacity() -> None:
    """Serialise ensure_capacity across processes. The periodic tick and the
    provision task both run it, in separate prefork processes even on one
    worker: unserialised, both read the same demand before either's instance
    row exists, and one job gets two instances. The lock is held only while
    demand is read and the rows are created; the launch (the provider's API
    call) happens after commit, in the launch task that claims due rows."""
    # SQLite already serialises writers: AIMA opens its transactions IMMEDIATE,
    # which takes the database's write lock before the demand is read.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CAPACITY_LOCK])


def meet_demand(now: datetime) -> list[int]:
    """ensure_capacity's pass, under its lock."""
    demand = cloud_demand()
    waiting = {gpu_class: CloudInstance.objects.filter(
        gpu_class=gpu_class, state__in=WAITING_FOR_WORK).count()
        for gpu_class in {want.gpu_class for want in demand}}
    finishing = finishing_soon(now)
    paused = paused_by_class({want.gpu_class for want in demand})
    # The same for every job of this pass: worked out once.
    spent = budget_spent(now) if demand else ""
    failed = recently_failed_offers(now)
    created: list[int] = []
    held: list[tuple[str, str]] = []
    for want in demand:
        job, gpu_class = want.job, want.gpu_class
        if waiting.get(gpu_class, 0) > 0:
            waiting[gpu_class] -= 1
            clear_wait_reason(job)
            continue
        # A paused instance of its class resumes faster than a new one boots.
        if resume_one(paused.get(gpu_class, []), str(job.pk)):
            clear_wait_reason(job)
            continue
        # A busy instance that is done sooner than a new one would boot takes it next.
        free_in = finishing.get(gpu_class, [])
        if free_in and free_in[0][1] <= want.choice.wait_s:
            name, seconds = free_in.pop(0)
            held.append((str(job.pk), f"waiting: {name} finishes its job in about "
                                      f"{seconds:.0f} s, sooner than a new instance would "
                                      f"boot"))
            continue
        offer = offer_to_rent(want.choice, gpu_class, failed.get(gpu_class, []))
        reason = spent or cap_reason(offer.provider, gpu_class, offer.price_per_hour)
        if reason:
            held.append((str(job.pk), reason))
            continue
        created.append(request_instance(job, offer, gpu_class, now))
        clear_wait_reason(job)
    for job_id, reason in held:
        Job.objects.filter(pk=job_id).exclude(wait_reason=reason).update(wait_reason=reason)
    return created


def paused_by_class(classes: set[int]) -> dict[int, list[CloudInstance]]:
    """The paused instances of the classes, oldest first."""
    found: dict[int, list[CloudInstance]] = {}
    for instance in CloudInstance.objects.filter(
            state=InstanceState.PAUSED, gpu_class__in=classes).order_by("pk"):
        found.setdefault(instance.gpu_class, []).append(instance)
    return found


def resume_one(paused: list[CloudInstance], job_id: str) -> bool:
    """Resume the first of ``paused`` that can be claimed, for ``job_id``."""
    while paused:
        if pausing.claim_resume(paused.pop(0), job_id):
            return True
    return False


def clear_wait_reason(job: Job) -> None:
    if job.wait_reason:
        Job.objects.filter(pk=job.pk).update(wait_reason="")


def request_instance(job: Job, offer: Rental, gpu_class: int, now: datetime) -> int:
    """A new instance, its launch due now; return its id."""
    instance = CloudInstance.objects.create(
        provider=offer.provider, offer_id=offer.offer_id, instance_type=offer.instance_type,
        gpu_model=offer.gpu_model, gpu_class=gpu_class, region=offer.region, spot=offer.spot,
        price_per_hour=offer.price_per_hour, requested_at=now, due_at=now)
    trail.record(trail.SYSTEM, "instance.requested", f"instance:{instance.pk}",
                 job=str(job.pk), provider=instance.provider, offer=instance.offer_id)
    return instance.pk


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


def offer_to_rent(choice: Option, gpu_class: int, failed: list[str]) -> Rental:
    """The placement's choice, unless it is among the ``failed`` offers of
    its class: then the cheapest stored offer of the class that is not. With
    no other offer, the choice again: better another try than a stranded job."""
    if choice.offer_id in failed:
        other = next_offer(gpu_class, failed, set())
        if other is not None:
            return Rental(provider=other.provider, offer_id=other.key,
                          instance_type=other.instance_type, gpu_model=other.gpu_model,
                          region=other.region, spot=False, price_per_hour=other.price_per_hour)
    return Rental(provider=choice.provider, offer_id=choice.offer_id,
                  instance_type=choice.instance_type, gpu_model=choice.gpu_model,
                  region=choice.region, spot=choice.spot, price_per_hour=choice.price_per_hour)


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
        choice = Decision.from_dict(job.placement).choice if job.placement else None
        expected = float(choice.runtime_s or 0.0) if choice else 0.0
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
        # Instances asked for but not launched yet will bill too; paused ones
        # at their paused price.
        spend = (live.exclude(state__in=BILLED_PAUSED).aggregate(
            total=Sum("price_per_hour"))["total"] or 0.0) + (live.filter(
            state__in=BILLED_PAUSED).aggregate(total=Sum("paused_price_per_hour"))["total"]
            or 0.0)
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
