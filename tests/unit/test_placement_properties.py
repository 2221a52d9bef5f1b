"""Properties of the placement engine over thousands of generated fleets,
offer books, policies and jobs: confidential media never reach the cloud, a
placement always has the VRAM, CUDA, access and region the job needs, and the
same input always gives the same decision."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aima_tasks.kernel import routing
from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import (
    USABLE_GPU_STATUSES,
    Confidentiality,
    GpuStatus,
    Urgency,
)
from aima_tasks.kernel.placement import (
    Code,
    FleetState,
    JobSpec,
    LocalGpu,
    Offer,
    OfferBook,
    Policy,
    Strategy,
    decide,
)
from aima_tasks.kernel.placement.inputs import cuda_tuple
from aima_tasks.kernel.schedule import parse

NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
VRAMS = [8, 12, 16, 22, 24, 32, 40, 48, 79.6, 80, 141]
CUDAS = ["11.4", "11.8", "12.1", "12.4", "12.8"]
MODELS = ["RTX 4090", "RTX 3060", "A100", "H100", "L4", "Mystery GPU"]
GROUPS = ["forensics", "press", "legal"]
SCHEDULES = ["24/7", "Mon-Fri 18:00-08:00", "Sat,Sun 00:00-24:00", "daily 22:00-06:00"]
PROVIDERS = ["vastai", "runpod", "aws", "lambda"]
REGIONS = ["EU-DE", "EU-FR", "NA-US", "us-east-1", "eu-west-1", ""]
EXAMPLES = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

groups = st.frozensets(st.sampled_from(GROUPS), max_size=2)
# Strategies built once: building them per draw costs more than the engine.
gpu = st.builds(
    LocalGpu, gpu_id=st.just(0), model=st.sampled_from(MODELS), vram_gb=st.sampled_from(VRAMS),
    cuda_version=st.sampled_from(CUDAS), host=st.just("h"),
    status=st.sampled_from(list(GpuStatus)), access_groups=groups,
    schedule=st.sampled_from([parse(text) for text in SCHEDULES]),
    cost_per_hour=st.floats(0, 3), backlog_s=st.floats(0, 3 * 86400))
offer = st.builds(
    Offer, provider=st.sampled_from(PROVIDERS), instance_type=st.just("t"),
    gpu_model=st.sampled_from(MODELS), vram_gb=st.sampled_from(VRAMS),
    price_per_hour=st.floats(0.05, 20), spot_price_per_hour=st.none() | st.floats(0.01, 10),
    cuda_version=st.sampled_from(CUDAS), region=st.sampled_from(REGIONS),
    reliability=st.floats(0.5, 1), bandwidth_mbps=st.floats(10, 10_000),
    boot_s=st.floats(0, 900),
    priced_at=st.floats(0, 12 * 3600).map(lambda age: NOW - timedelta(seconds=age)),
    interruption_per_hour=st.none() | st.floats(0, 2))


def gpus() -> st.SearchStrategy[tuple[LocalGpu, ...]]:
    return st.lists(gpu, max_size=6).map(
        lambda items: tuple(replace(g, gpu_id=i + 1, host=f"h{i}") for i, g in enumerate(items)))


def offers() -> st.SearchStrategy[tuple[Offer, ...]]:
    return st.lists(offer, max_size=12).map(
        lambda items: tuple(replace(o, instance_type=f"type{i}", offer_id=f"offer{i}")
                            for i, o in enumerate(items)))


analyses_by_type = {m: catalogue().applicable(m, has_audio=True) for m in MediaType}


@st.composite
def jobs(draw: st.DrawFn) -> JobSpec:
    media_type = draw(st.sampled_from(list(MediaType)))
    chosen = draw(st.lists(st.sampled_from(analyses_by_type[media_type]), min_size=1,
                           unique=True))
    return JobSpec(
        media_type=media_type, size_bytes=draw(sizes), analyses=tuple(chosen),
        confidentiality=draw(levels), urgency=draw(urgencies), priority=draw(st.integers(0, 3)),
        duration_s=draw(durations), region=draw(regions), groups=draw(groups))


sizes = st.integers(1, 50 * 10**9)
levels = st.sampled_from(list(Confidentiality))
urgencies = st.sampled_from(list(Urgency))
durations = st.none() | st.floats(1, 20 * 3600)
regions = st.none() | st.sampled_from(["EU", "NA", "us"])


def policies() -> st.SearchStrategy[Policy]:
    return st.builds(
        Policy, strategy=st.sampled_from(list(Strategy)),
        provider_order=st.permutations(["local", *PROVIDERS]).flatmap(
            lambda order: st.integers(0, 5).map(lambda n: tuple(order[:n]))),
        enabled_providers=st.none() | st.frozensets(st.sampled_from(PROVIDERS)),
        spot_urgencies=st.frozensets(urgencies),
        max_hourly_price=st.none() | st.floats(0.1, 10),
        max_job_cost=st.none() | st.floats(0.01, 50),
        monthly_budget=st.none() | st.floats(0, 1000),
        upload_mbps=st.floats(5, 1000))


@settings(EXAMPLES, max_examples=2000)
@given(jobs(), gpus(), offers(), policies(), st.floats(0, 2000), st.randoms(use_true_random=False))
def test_placement_honours_every_hard_rule_and_is_deterministic(
        spec, fleet_gpus, cloud_offers, policy, spend, rng: random.Random):
    decision = decide(spec, FleetState(gpus=fleet_gpus, now=NOW, month_spend=spend),
                      OfferBook.build(cloud_offers), policy)
    # The same input, in any order, gives the same decision.
    shuffled_gpus, shuffled_offers = list(fleet_gpus), list(cloud_offers)
    rng.shuffle(shuffled_gpus)
    rng.shuffle(shuffled_offers)
    again = decide(spec, FleetState(gpus=tuple(shuffled_gpus), now=NOW, month_spend=spend),
                   OfferBook.build(shuffled_offers), policy)
    assert again.to_dict() == decision.to_dict()
    if not decision.placed:
        assert decision.choice is None and decision.queue is None
        return
    choice = decision.choice
    need_class = routing.class_for_need(spec.vram_need_gb)
    assert decision.gpu_class == need_class >= spec.vram_need_gb
    assert decision.queue == routing.gpu_queue(routing.Scope(choice.scope), need_class)
    if choice.scope == "local":
        gpu = next(g for g in fleet_gpus if g.gpu_id == choice.gpu_id)
        vram, cuda = gpu.vram_gb, gpu.cuda_version
        assert gpu.status in USABLE_GPU_STATUSES or (
            gpu.status == GpuStatus.OFFLINE and decision.code == Code.GPU_OFFLINE_QUEUED)
        assert not gpu.access_groups or gpu.access_groups & spec.groups
        # A confidential job queues however long its wait (seed 003 §1.3), and says so.
        assert (choice.wait_s <= policy.max_local_wait_s
                or (spec.confidentiality == Confidentiality.CONFIDENTIAL
                    and Code.CONFIDENTIAL_QUEUED in decision.reasons))
        assert math.isfinite(choice.wait_s)
    else:
        assert spec.confidentiality != Confidentiality.CONFIDENTIAL
        offer = next(o for o in cloud_offers if o.offer_id == choice.offer_id)
        vram, cuda = offer.vram_gb, offer.cuda_version
        assert not spec.region or offer.region.upper().startswith(spec.region.upper())
        assert policy.enabled_providers is None or offer.provider in policy.enabled_providers
        assert not choice.spot or spec.urgency in policy.spot_urgencies
        if policy.max_hourly_price is not None:
            assert choice.price_per_hour <= policy.max_hourly_price
        if policy.monthly_budget is not None:
            assert spend + choice.cost <= policy.monthly_budget + 1e-9
    assert vram >= need_class * routing.VRAM_TOLERANCE
    assert cuda_tuple(cuda) >= cuda_tuple(spec.min_cuda)


@EXAMPLES
@given(jobs(), gpus(), offers(), policies())
def test_confidential_media_never_reach_the_cloud(spec, fleet_gpus, cloud_offers, policy):
    secret = JobSpec(**{**spec.__dict__, "confidentiality": Confidentiality.CONFIDENTIAL})
    decision = decide(secret, FleetState(gpus=fleet_gpus, now=NOW),
                      OfferBook.build(cloud_offers), policy)
    assert decision.scope in (None, routing.Scope.LOCAL)
    assert all(alt.option.scope == "local" for alt in decision.alternatives)
    if decision.placed:
        assert decision.queue.startswith("gpu.local.")
    else:
        # Refused only when no usable local GPU has the VRAM, CUDA, access and an open window.
        need = routing.class_for_need(secret.vram_need_gb) * routing.VRAM_TOLERANCE \
            if secret.vram_need_gb <= max(routing.GPU_CLASSES) else math.inf
        assert not any(
            g.status in USABLE_GPU_STATUSES and g.vram_gb >= need
            and cuda_tuple(g.cuda_version) >= cuda_tuple(secret.min_cuda)
            and (not g.access_groups or g.access_groups & secret.groups)
            and g.schedule.intervals for g in fleet_gpus)
