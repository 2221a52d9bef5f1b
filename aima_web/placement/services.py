"""The placement engine's inputs, read from the database, and decisions over them.

The engine (``aima_tasks.kernel.placement``) is pure; this module is the one place that
turns rows into its plain records: a job into a ``JobSpec``, the local GPUs and
their queued work into a ``FleetState``, stored offers into an ``OfferBook``,
and the stored policy into a ``Policy``.

Local GPUs' availability schedules are wall-clock windows in the control
plane's time zone (``TIME_ZONE``, from ``AIMA_TIME_ZONE``; UTC by default), so
``now`` is always ``timezone.localtime()``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from aima_tasks.kernel import schedule
from aima_tasks.kernel.analyses import MediaType, Needs, catalogue
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.placement import (
    Decision,
    FleetState,
    JobSpec,
    LocalGpu,
    Offer,
    OfferBook,
    RuntimeKnowledge,
    decide,
    decide_partial,
    work_units,
)
from aima_tasks.kernel.placement.decision import with_last_good_prices
from aima_tasks.kernel.placement.performance import normalise
from aima_tasks.kernel.routing import Scope, message_priority
from aima_tasks.kernel.work import ModelChoice
from aima_web.access.visibility import team_names
from aima_web.fleet import hearing
from aima_web.fleet.models import LocalGPU
from aima_web.instances import billing
from aima_web.jobs.models import AnalysisResult, Job
from aima_web.jobs.states import JobState
from aima_web.placement import prices
from aima_web.placement.models import CloudOffer, PlacementPolicy

# How many recent results the observed runtimes are the median of.
OBSERVED_RESULTS = 500
# Rows per statement when offers are replaced by key (SQLite caps bound variables).
KEY_BATCH = 500


def job_spec(job: Job, analyses: Sequence[str] | None = None,
             model_vram_gb: float = 0.0) -> JobSpec:
    """What the engine needs to know of a job; ``analyses`` default to the job's."""
    asset = job.media
    names = tuple(job.analyses if analyses is None else analyses)
    needs = catalogue().needs(names)
    return JobSpec(
        media_type=MediaType(asset.media_type), size_bytes=asset.size_bytes, analyses=names,
        confidentiality=Confidentiality(job.confidentiality), urgency=Urgency(job.urgency),
        priority=job.priority, duration_s=asset.metadata.get("duration_s"),
        region=job.region or None, groups=team_names(job.owner), model_vram_gb=model_vram_gb,
        analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda)


def decide_for(spec: JobSpec, now: datetime | None = None,
               needs: Mapping[str, Needs] | None = None) -> Decision:
    """Where ``spec`` should run now, under the stored policy and offers; given
    what each analysis needs (``analysis_needs``), a job with an analysis no GPU
    can hold runs without it (``decide_partial``). A decision from a provider
    whose price refresh fails says it used its last good prices."""
    policy = PlacementPolicy.current()
    # Queued work of a lower priority is not ahead of it: its unit overtakes it.
    fleet = fleet_state(now or timezone.localtime(), policy,
                        level=message_priority(spec.priority, spec.urgency))
    if needs is not None:
        decision = decide_partial(spec, needs, fleet, offer_book(), policy.to_policy())
    else:
        decision = decide(spec, fleet, offer_book(), policy.to_policy())
    return with_last_good_prices(decision, prices.outages())


def analysis_needs(names: Sequence[str],
                   models: Mapping[str, Sequence[ModelChoice]]) -> dict[str, Needs]:
    """What each analysis asks of a GPU: its spec's VRAM and CUDA, and at least
    the VRAM of its smallest registry variant."""
    specs = catalogue().specs
    found = {}
    for name in names:
        spec = specs[name]
        smallest = min((variant.min_vram_gb for variant in models.get(name) or ()), default=0.0)
        found[name] = Needs(vram_gb=max(spec.min_vram_gb, smallest), min_cuda=spec.min_cuda)
    return found


# ---------------------------------------------------------------- the local fleet

def fleet_state(now: datetime, policy: PlacementPolicy | None = None,
                level: int | None = None) -> FleetState:
    """The local fleet now; ``level``: the backlogs of a job of that message
    priority (``backlog_by_gpu``)."""
    policy = policy or PlacementPolicy.current()
    energy_price = float(policy.energy_price_per_kwh)
    # A retired GPU is gone, not merely unavailable: nothing to suggest about it.
    rows = list(LocalGPU.objects.exclude(status=GpuStatus.RETIRED).select_related("agent"))
    lost_before = hearing.lost_before(now)
    backlog = backlog_by_gpu(now, level)
    gpus = tuple(
        LocalGpu(gpu_id=gpu.id, model=gpu.model, vram_gb=gpu.vram_gb,
                 cuda_version=gpu.cuda_version, host=gpu.host, status=_status(gpu, lost_before),
                 access_groups=frozenset(gpu.access_restrictions),
                 schedule=schedule.parse(gpu.availability_schedule),
                 cost_per_hour=gpu.cost_per_hour_at(energy_price),
                 backlog_s=backlog.get(gpu.id, 0.0), profile=dict(gpu.performance_profile),
                 simulated=gpu.simulated)
        for gpu in rows)
    knowledge = RuntimeKnowledge(benchmarks=benchmarks(rows), observed=observed_runtimes())
    return FleetState(gpus=gpus, now=now, month_spend=month_spend(now), knowledge=knowledge)


def _status(gpu: LocalGPU, lost_before: datetime | None) -> GpuStatus:
    """A GPU whose agent is lost (silent since before ``lost_before``) is
    offline from that moment, not only once the fleet health task has marked
    it so."""
    heard = gpu.agent.last_heartbeat if gpu.agent is not None else None
    if heard is not None and lost_before is not None and heard < lost_before:
        return GpuStatus.OFFLINE
    return GpuStatus(gpu.status)


def backlog_by_gpu(now: datetime, level: int | None = None) -> dict[int, float]:
    """Estimated seconds of work still ahead of each local GPU: queued jobs
    placed on it, and what is left of the jobs running on it. Given a job's
    message priority ``level``, only the queued jobs its unit cannot overtake
    (the GPU queues are priority queues) count, those of its level or higher."""
    backlog: dict[int, float] = defaultdict(float)
    active = Job.objects.filter(state__in=(JobState.QUEUED, JobState.RUNNING),
                                placement__scope=Scope.LOCAL.value)
    for state, placement, gpu_id, running_at, priority, urgency in active.values_list(
            "state", "placement", "gpu_id", "running_at", "priority", "urgency"):
        if (level is not None and state == JobState.QUEUED
                and message_priority(priority, urgency) < level):
            continue
        choice = placement.get("choice") or {}
        remaining = float(choice.get("runtime_s") or 0.0)
        target = choice.get("gpu_id")
        if state == JobState.RUNNING:
            # Any GPU serving the class queue may have taken it: count it where it runs.
            target = gpu_id or target
            if running_at is not None:
                remaining -= (now - running_at).total_seconds()
        if target is not None:
            backlog[target] += max(remaining, 0.0)
    return dict(backlog)


def month_spend(now: datetime) -> float:
    """Cloud spend this calendar month (in the control plane's time zone):
    what instances have been billed, and the expected cost of the cloud-placed
    jobs still waiting for one, which are as good as spent."""
    start = billing.month_start(now)
    waiting = (Job.objects.filter(created_at__gte=start, state=JobState.QUEUED,
                                  placement__scope=Scope.CLOUD.value)
               .values_list("placement", flat=True))
    expected = sum(float((p.get("choice") or {}).get("cost") or 0.0) for p in waiting)
    return billing.billed_this_month(now) + expected


def benchmarks(gpus: Iterable[LocalGPU]) -> dict[tuple[str, str], float]:
    """Benchmarked seconds per work unit by (normalised model, analysis): the
    median over the GPUs of a model, so that cloud offers of it profit too."""
    measured: dict[tuple[str, str], list[float]] = defaultdict(list)
    for gpu in gpus:
        for analysis, seconds in gpu.performance_profile.items():
            measured[(normalise(gpu.model), analysis)].append(float(seconds))
    return {key: statistics.median(values) for key, values in measured.items()}


def observed_runtimes(limit: int = OBSERVED_RESULTS) -> dict[tuple[str, str], float]:
    """Median seconds per work unit of recent successful results, by
    (normalised GPU model, analysis)."""
    rows = (AnalysisResult.objects
            .filter(job__state=JobState.SUCCEEDED, job__gpu__isnull=False)
            .order_by("-finished_at")
            .values_list("analysis", "started_at", "finished_at", "job__gpu__model",
                         "job__media__media_type", "job__media__metadata__duration_s")[:limit])
    per_unit: dict[tuple[str, str], list[float]] = defaultdict(list)
    for analysis, started, finished, model, media_type, duration_s in rows:
        units = work_units(MediaType(media_type), duration_s)
        seconds = (finished - started).total_seconds()
        if seconds >= 0:
            per_unit[(normalise(model), analysis)].append(seconds / units)
    return {key: statistics.median(values) for key, values in per_unit.items()}


# ---------------------------------------------------------------- cloud offers

_book: tuple[tuple[Any, ...], OfferBook] | None = None


def offer_book() -> OfferBook:
    """The stored offers as an ``OfferBook``, built again only when they change:
    one small query per placement instead of ten thousand rows."""
    global _book
    stamp = CloudOffer.objects.aggregate(count=Count("id"), newest=Max("priced_at"),
                                         last_id=Max("id"), loaded=Max("loaded_at"))
    key = (stamp["count"], stamp["newest"], stamp["last_id"], stamp["loaded"])
    cached = _book
    if cached is not None and cached[0] == key:
        return cached[1]
    book = OfferBook.build(row.to_offer() for row in CloudOffer.objects.iterator(chunk_size=2000))
    _book = (key, book)
    return book


@dataclass(frozen=True)
class OfferLoad:
    stored: int
    # Stored offers of the same key, replaced by the new ones.
    replaced: int
    # Stored offers dropped because ``replace`` asked for the whole list anew.
    removed: int
    # Rows whose key came again later in the input: the later one counts.
    duplicates: int


def store_offers(offers: Sequence[Offer], replace: bool = False) -> OfferLoad:
    """Store offers all at once or not at all, their prices in the history
    too. An offer of a key already stored replaces it; with ``replace`` every
    other stored offer goes too."""
    rows = {offer.key: CloudOffer.from_offer(offer) for offer in offers}
    replaced = removed = 0
    with transaction.atomic():
        if replace:
            removed = CloudOffer.objects.all().delete()[0]
        else:
            keys = list(rows)
            for start in range(0, len(keys), KEY_BATCH):
                batch = keys[start:start + KEY_BATCH]
                replaced += CloudOffer.objects.filter(key__in=batch).delete()[0]
        CloudOffer.objects.bulk_create(rows.values(), batch_size=KEY_BATCH)
        prices.record_history(offers)
    return OfferLoad(stored=len(rows), replaced=replaced, removed=removed,
                     duplicates=len(offers) - len(rows))


def replace_provider_offers(provider: str, offers: Sequence[Offer],
                            now: datetime) -> OfferLoad:
    """A provider's refreshed offers in place of all its stored ones (history
    appended, its refresh on record as good), all at once or not at all."""
    with transaction.atomic():
        removed = CloudOffer.objects.filter(provider=provider).delete()[0]
        load = store_offers(offers)
        prices.refresh_succeeded(provider, load.stored, now)
    return OfferLoad(stored=load.stored, replaced=load.replaced, removed=removed,
                     duplicates=load.duplicates)


# ---------------------------------------------------------------- the policy

def policy_changes(before: PlacementPolicy | None,
                   after: PlacementPolicy) -> dict[str, list[Any]]:
    """Each changed field as [old, new], in values the audit trail can store."""
    changes: dict[str, list[Any]] = {}
    for field in PlacementPolicy._meta.concrete_fields:
        if field.name in ("id", "updated_at"):
            continue
        old = None if before is None else getattr(before, field.attname)
        new = getattr(after, field.attname)
        if old != new:
            changes[field.name] = [_plain(old), _plain(new)]
    return changes


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
