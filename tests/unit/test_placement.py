"""The placement engine, rule by rule and strategy by strategy (seeds 002 and 003).

Each case builds the smallest fleet and offer book that makes one rule decide,
and checks where the job went, the reason code, and the figures behind it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.placement import (
    EMPTY,
    Code,
    FleetState,
    JobSpec,
    LocalGpu,
    Offer,
    OfferBook,
    Policy,
    RuntimeKnowledge,
    Strategy,
    decide,
    local_cost_per_hour,
)
from aima_tasks.kernel.placement.performance import (
    JOB_OVERHEAD_S,
    RuntimeSource,
    normalise,
    relative_performance,
    runtime_s,
)
from aima_tasks.kernel.schedule import parse

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
GB = 10**9


def job(media_type: MediaType = MediaType.VIDEO, *, confidentiality=Confidentiality.INTERNAL,
        urgency=Urgency.NORMAL, size_gb: float = 1.0, duration_s: float = 600.0,
        analyses: tuple[str, ...] = ("shots",), work_h: float | None = None, **kw) -> JobSpec:
    if work_h is not None:
        # Media long enough for ``work_h`` hours of shot detection on the reference GPU.
        duration_s = work_h * 3600 / catalogue().specs["shots"].reference_s_per_unit
    needs = catalogue().needs(analyses)
    return JobSpec(media_type=media_type, size_bytes=int(size_gb * GB), analyses=analyses,
                   confidentiality=confidentiality, urgency=urgency, duration_s=duration_s,
                   analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda, **kw)


def gpu(gpu_id: int = 1, vram: float = 24, *, model: str = "RTX 4090", cost: float = 0.10,
        **kw) -> LocalGpu:
    return LocalGpu(gpu_id=gpu_id, model=model, vram_gb=vram, cuda_version=kw.pop("cuda", "12.4"),
                    host=f"host{gpu_id}", cost_per_hour=cost, **kw)


def offer(provider: str = "vastai", price: float = 0.40, *, vram: float = 24,
          model: str = "RTX 4090", spot: float | None = None, **kw) -> Offer:
    kw.setdefault("instance_type", f"1x-{model.replace(' ', '_')}")
    kw.setdefault("region", "EU-DE")
    kw.setdefault("priced_at", NOW)
    return Offer(provider=provider, gpu_model=model, vram_gb=vram, price_per_hour=price,
                 spot_price_per_hour=spot, **kw)


def fleet(*gpus: LocalGpu, now: datetime = NOW, **kw) -> FleetState:
    return FleetState(gpus=tuple(gpus), now=now, **kw)


def book(*offers: Offer) -> OfferBook:
    return OfferBook.build(offers)


def placed_on(decision) -> str:
    assert decision.placed, decision.reason
    choice = decision.choice
    return f"local:{choice.gpu_id}" if choice.scope == "local" else choice.offer_id


# ---------------------------------------------------------------- requirements

@pytest.mark.parametrize("media_type, need, queue", [
    (MediaType.VIDEO, 24, "gpu.local.24"),
    (MediaType.IMAGE, 16, "gpu.local.16"),
    (MediaType.AUDIO, 8, "gpu.local.8"),
])
def test_media_type_sets_vram_need_and_class(media_type, need, queue):
    analyses = {"video": ("shots",), "image": ("phash",), "audio": ("loudness",)}[media_type]
    decision = decide(job(media_type, analyses=analyses), fleet(gpu(1, 48)), EMPTY, Policy())
    assert (decision.vram_need_gb, decision.gpu_class, decision.queue) == (need, need, queue)
    assert decision.min_cuda == "11.8"


def test_an_80_gb_card_reporting_79_6_gib_serves_the_80_gb_class():
    spec = replace(job(), analyses=("shots",))
    heavy = JobSpec(**{**spec.__dict__})
    assert decide(heavy, fleet(gpu(1, 79.6)), EMPTY, Policy()).placed


def test_need_beyond_the_largest_class_is_refused_with_the_reason(monkeypatch):
    specs = catalogue().specs
    monkeypatch.setitem(specs, "huge", replace(
        specs["shots"], name="huge", min_vram_gb=120.0, min_cuda="12.1"))
    decision = decide(job(analyses=("shots", "huge")), fleet(gpu(1, 141)), EMPTY, Policy())
    assert not decision.placed and decision.code == Code.TOO_LARGE
    assert "120 GB exceeds the largest GPU class (80 GB)" in decision.reason


def test_an_analyzer_needing_more_raises_vram_and_cuda(monkeypatch):
    specs = catalogue().specs
    monkeypatch.setitem(specs, "big", replace(
        specs["shots"], name="big", min_vram_gb=40.0, min_cuda="12.1"))
    spec = job(analyses=("shots", "big"))
    fleet_ = fleet(gpu(1, 24), gpu(2, 48, cuda="12.0"), gpu(3, 48, cuda="12.2"))
    decision = decide(spec, fleet_, EMPTY, Policy())
    assert (decision.vram_need_gb, decision.min_cuda, decision.gpu_class) == (40, "12.1", 48)
    assert placed_on(decision) == "local:3"
    assert decision.excluded == {"cuda_too_old": 1, "vram_too_small": 1}


# ---------------------------------------------------------------- confidentiality

def test_confidential_never_goes_to_the_cloud_even_when_it_is_far_cheaper():
    spec = job(confidentiality=Confidentiality.CONFIDENTIAL)
    decision = decide(spec, fleet(gpu(1, cost=50.0)), book(offer(price=0.01)), Policy(
        strategy=Strategy.COST_FIRST))
    assert placed_on(decision) == "local:1"
    assert decision.code == Code.CONFIDENTIAL_LOCAL_ONLY
    assert decision.excluded == {"confidential_local_only": 1}
    assert decision.alternatives == ()


def test_confidential_without_a_local_fit_lists_concrete_alternatives():
    spec = job(confidentiality=Confidentiality.CONFIDENTIAL, groups=frozenset({"press"}))
    fleet_ = fleet(
        gpu(1, 12, model="RTX 3060"),
        gpu(2, 24, status=GpuStatus.MAINTENANCE),
        gpu(3, 24, access_groups=frozenset({"forensics"})),
        gpu(4, 24, cuda="11.4"),
    )
    decision = decide(spec, fleet_, book(offer(price=0.3)), Policy())
    assert not decision.placed and decision.queue is None
    assert decision.code == Code.CONFIDENTIAL_NO_LOCAL
    text = "\n".join(decision.suggestions)
    assert "#2 (RTX 4090 @ host2) has the VRAM but is maintenance" in text
    assert "#3 (RTX 4090 @ host3) is reserved for forensics" in text
    assert "#4 (RTX 4090 @ host4) has CUDA 11.4; update its driver to CUDA 11.8" in text
    assert "at most 12 GB would fit local GPU #1 (RTX 3060)" in text
    assert "register a local GPU with at least 24 GB VRAM and CUDA 11.8, e.g. an RTX 4090" in text
    # A GPU that opens only on Saturday is still suitable: the job waits for it
    # (Monday 10:00 to Saturday 00:00 is 4 days 14 hours), beyond the maximum wait.
    weekend = gpu(5, 24, schedule=parse("Sat 00:00-24:00"))
    queued = decide(spec, fleet(*fleet_.gpus, weekend), book(offer(price=0.3)), Policy())
    assert placed_on(queued) == "local:5" and queued.choice.wait_s == 110 * 3600
    assert Code.CONFIDENTIAL_QUEUED in queued.reasons


def test_an_internal_job_told_when_a_local_gpu_frees_up():
    weekend = gpu(5, 24, schedule=parse("Sat 00:00-24:00"))
    decision = decide(job(), fleet(weekend), EMPTY, Policy())
    assert not decision.placed and decision.code == Code.NO_FIT
    assert "#5 (RTX 4090 @ host5) frees up in 110.0 h" in "\n".join(decision.suggestions)


def test_internal_may_use_either_and_public_prefers_the_cloud():
    # Cloud and local cost about the same: internal stays local, public goes out.
    fleet_ = fleet(gpu(1, cost=0.40))
    offers = book(offer(price=0.40, boot_s=0, bandwidth_mbps=10_000))
    policy = Policy(upload_mbps=10_000)
    internal = decide(job(), fleet_, offers, policy)
    public = decide(job(confidentiality=Confidentiality.PUBLIC), fleet_, offers, policy)
    assert (internal.scope, internal.code) == ("local", Code.LOCAL_WITHIN_TOLERANCE)
    assert (public.scope, public.code) == ("cloud", Code.PUBLIC_CLOUD_PREFERRED)
    assert public.queue == "gpu.cloud.24"


def test_public_stays_local_when_local_is_clearly_cheaper():
    decision = decide(job(confidentiality=Confidentiality.PUBLIC), fleet(gpu(1, cost=0.01)),
                      book(offer(price=2.0)), Policy())
    assert (decision.scope, decision.code) == ("local", Code.LOCAL_CHEAPER)


# ---------------------------------------------------------------- the 10 % tolerance

@pytest.mark.parametrize("local_cost, expected", [
    (0.40, "local"),    # equal
    (0.439, "local"),   # 9.75 % dearer: within tolerance
    (0.46, "cloud"),    # 15 % dearer
])
def test_local_preferred_within_ten_percent(local_cost, expected):
    # Make both options cost exactly their hourly price for one hour of work.
    spec = job(size_gb=0.0, duration_s=3600 * 1.0)
    fleet_ = fleet(gpu(1, cost=local_cost))
    offers = book(offer(price=0.40, boot_s=0))
    decision = decide(spec, fleet_, offers, Policy())
    assert decision.scope == expected
    assert decision.code == (Code.LOCAL_WITHIN_TOLERANCE if expected == "local"
                             else Code.CLOUD_CHEAPER)


def test_the_loser_is_listed_with_why():
    decision = decide(job(work_h=1), fleet(gpu(1, cost=5.0)), book(offer(price=0.40)), Policy())
    assert decision.scope == "cloud"
    loser = decision.alternatives[0]
    assert loser.option.scope == "local" and loser.lost == Code.MORE_EXPENSIVE
    assert loser.why.startswith("costs $")
    assert loser.option.cost > decision.choice.cost


# ---------------------------------------------------------------- urgency

def test_urgent_job_goes_to_the_cloud_when_the_local_wait_is_over_an_hour():
    busy = gpu(1, cost=0.01, backlog_s=61 * 60)
    offers = book(offer(price=3.0))
    urgent = decide(job(urgency=Urgency.HIGH), fleet(busy), offers, Policy())
    normal = decide(job(), fleet(busy), offers, Policy())
    assert (urgent.scope, urgent.code) == ("cloud", Code.URGENT_LOCAL_WAIT)
    assert normal.scope == "local"
    dropped = urgent.alternatives[0]
    assert dropped.lost == Code.URGENT_LOCAL_WAIT and "waits 61 min" in dropped.why


def test_urgent_confidential_job_waits_locally_all_the_same():
    busy = gpu(1, backlog_s=3 * 3600)
    decision = decide(job(urgency=Urgency.HIGH, confidentiality=Confidentiality.CONFIDENTIAL),
                      fleet(busy), book(offer()), Policy())
    assert decision.scope == "local" and decision.choice.wait_s == 3 * 3600


def test_urgent_job_may_not_use_spot():
    offers = book(offer(price=1.0, spot=0.2))
    normal = decide(job(), fleet(), offers, Policy())
    urgent = decide(job(urgency=Urgency.HIGH), fleet(), offers, Policy())
    assert normal.choice.spot and Code.SPOT in normal.reasons
    assert not urgent.choice.spot and Code.SPOT_NOT_FOR_URGENCY in urgent.reasons


# ---------------------------------------------------------------- large media

def test_large_media_with_a_slow_upload_stay_local():
    # 20 GB at 50 Mbit/s: 53 minutes of upload.
    spec = job(size_gb=20, work_h=1)
    policy = Policy(upload_mbps=50)
    fleet_ = fleet(gpu(1, cost=0.70))
    close = decide(spec, fleet_, book(offer(price=0.30)), policy)
    assert (close.scope, close.code) == ("local", Code.LARGE_MEDIA_LOCAL)
    assert close.alternatives[0].lost == Code.LOST_TO_RULE
    # The cloud wins once it is more than 20 % cheaper, upload included.
    far = decide(spec, fleet(gpu(1, cost=5.0)), book(offer(price=0.30)), policy)
    assert (far.scope, far.code) == ("cloud", Code.CLOUD_CHEAPER)


def test_large_media_rule_needs_both_size_and_slow_upload():
    policy = Policy(upload_mbps=10_000)
    decision = decide(job(size_gb=20, duration_s=3600), fleet(gpu(1, cost=0.5)),
                      book(offer(price=0.30, bandwidth_mbps=10_000)), policy)
    assert Code.LARGE_MEDIA_LOCAL not in decision.reasons


def test_upload_time_follows_size_and_the_slower_bandwidth():
    decision = decide(job(size_gb=1.0, confidentiality=Confidentiality.PUBLIC), fleet(),
                      book(offer(bandwidth_mbps=40, boot_s=100)), Policy(upload_mbps=100))
    assert decision.choice.upload_s == pytest.approx(1e9 * 8 / 40e6)
    assert decision.choice.wait_s == pytest.approx(100 + 200)


# ---------------------------------------------------------------- strategies

def three_way() -> tuple[FleetState, OfferBook]:
    # Local is dear but instant; vastai is cheapest; runpod in between.
    fleet_ = fleet(gpu(1, cost=1.0))
    offers = book(offer("vastai", 0.30), offer("runpod", 0.50, model="A100", vram=80),
                  offer("aws", 1.006, model="A10G", vram=24, instance_type="g5.xlarge"))
    return fleet_, offers


@pytest.mark.parametrize("strategy, order, where, code", [
    (Strategy.COST_FIRST, (), "vastai", Code.CHEAPEST),
    (Strategy.LOCAL_FIRST, (), "local", Code.LOCAL_FIRST),
    (Strategy.PROVIDER_PRIORITY, ("runpod", "local", "vastai"), "runpod",
     Code.PROVIDER_PRIORITY),
    (Strategy.PROVIDER_PRIORITY, ("local", "aws"), "local", Code.PROVIDER_PRIORITY),
    (Strategy.PROVIDER_PRIORITY, ("aws",), "aws", Code.PROVIDER_PRIORITY),
    (Strategy.BALANCED, (), "vastai", Code.CLOUD_CHEAPER),
])
def test_each_strategy(strategy, order, where, code):
    fleet_, offers = three_way()
    decision = decide(job(duration_s=7200), fleet_, offers,
                      Policy(strategy=strategy, provider_order=order))
    assert decision.choice.provider == where
    assert decision.code == code
    assert decision.strategy == strategy


def test_provider_priority_falls_through_to_the_next_provider_that_fits():
    fleet_, offers = three_way()
    # Only runpod has 80 GB; the order's first entries cannot take the job.
    decision = decide(job(analyses=("shots",), duration_s=60), fleet_, offers,
                      Policy(strategy=Strategy.PROVIDER_PRIORITY, provider_order=("aws",)))
    assert decision.choice.provider == "aws"
    ranks = {a.option.provider: a.lost for a in decision.alternatives}
    assert ranks["vastai"] == Code.LOWER_PROVIDER_RANK


def test_cost_first_weighs_speed_not_just_price_per_hour():
    # An A100 is about 1.9 times an RTX 4090 in the table: at 1.5x the price it is cheaper.
    offers = book(offer("vastai", 0.40, instance_type="4090"),
                  offer("vastai", 0.60, model="A100", vram=40, instance_type="a100"))
    decision = decide(job(work_h=4, size_gb=0), fleet(), offers,
                      Policy(strategy=Strategy.COST_FIRST))
    assert decision.choice.instance_type == "a100"
    assert decision.alternatives[0].lost == Code.MORE_EXPENSIVE


def test_local_first_without_a_local_fit_takes_the_cheapest_cloud_offer():
    offers = book(offer("vastai", 0.40, instance_type="slow-cheap", boot_s=600),
                  offer("runpod", 3.00, model="H100", vram=80, boot_s=30))
    decision = decide(job(work_h=1), fleet(gpu(1, 16)), offers,
                      Policy(strategy=Strategy.LOCAL_FIRST))
    assert decision.choice.instance_type == "slow-cheap" and decision.code == Code.NO_LOCAL_FIT


def test_local_first_picks_the_gpu_that_finishes_first():
    fleet_ = fleet(gpu(1, backlog_s=600), gpu(2, model="RTX 3090", backlog_s=0), gpu(3))
    decision = decide(job(duration_s=60), fleet_, EMPTY, Policy(strategy=Strategy.LOCAL_FIRST))
    assert placed_on(decision) == "local:3"  # the same speed as #1, and no queue


# ---------------------------------------------------------------- filters

def test_access_restrictions_need_a_shared_group():
    restricted = gpu(1, access_groups=frozenset({"forensics"}))
    outsider = decide(job(), fleet(restricted), book(offer()), Policy())
    member = decide(job(groups=frozenset({"forensics", "x"})), fleet(restricted), book(offer()),
                    Policy())
    assert outsider.scope == "cloud" and outsider.excluded["access_denied"] == 1
    assert member.scope == "local"


@pytest.mark.parametrize("status, usable", [
    (GpuStatus.AVAILABLE, True), (GpuStatus.BUSY, True), (GpuStatus.OFFLINE, False),
    (GpuStatus.MAINTENANCE, False), (GpuStatus.RETIRED, False), (GpuStatus.FAILED, False)])
def test_gpu_status(status, usable):
    # Beside a GPU in service, one in ``status`` takes the job only if usable.
    decision = decide(job(), fleet(gpu(1, status=status, cost=0.01), gpu(2, cost=0.5)),
                      EMPTY, Policy())
    assert decision.choice.gpu_id == (1 if usable else 2)
    assert decision.code != Code.GPU_OFFLINE_QUEUED


@pytest.mark.parametrize("status, waits", [
    (GpuStatus.OFFLINE, True), (GpuStatus.MAINTENANCE, False), (GpuStatus.RETIRED, False),
    (GpuStatus.FAILED, False)])
def test_a_job_only_an_offline_gpu_could_take_waits_for_it(status, waits):
    """An agent restarting must not get every job meanwhile refused: its GPU
    still exists. A failed GPU, or one an admin took away, is no such place."""
    for confidentiality in Confidentiality:
        decision = decide(job(confidentiality=confidentiality), fleet(gpu(1, status=status)),
                          EMPTY, Policy())
        assert decision.placed is waits, decision.reason
        if waits:
            assert decision.code == Code.GPU_OFFLINE_QUEUED
            assert decision.queue == "gpu.local.24" and decision.choice.gpu_id == 1
            assert "offline (its agent is silent)" in decision.reason
            assert decision.excluded == {"gpu_unavailable": 1}


def test_an_offline_gpu_is_waited_for_only_when_nothing_else_can_take_the_job():
    away = gpu(1, status=GpuStatus.OFFLINE)
    assert decide(job(), fleet(away), book(offer()), Policy()).scope == "cloud"
    # Nor one whose CUDA or access would refuse the job once back.
    old = gpu(2, status=GpuStatus.OFFLINE, cuda="11.0")
    reserved = gpu(3, status=GpuStatus.OFFLINE, access_groups=frozenset({"legal"}))
    spec = replace(job(), min_cuda="12.0")
    assert not decide(spec, fleet(old, reserved), EMPTY, Policy()).placed


def test_schedule_window_delays_the_start():
    evenings = gpu(1, schedule=parse("Mon-Fri 18:00-08:00"), backlog_s=1800)
    decision = decide(job(), fleet(evenings), EMPTY, Policy())
    # Closed at 10:00; opens at 18:00; the queued half hour runs first.
    assert decision.choice.wait_s == 8 * 3600 + 1800


def test_local_wait_beyond_the_maximum_goes_elsewhere():
    decision = decide(job(), fleet(gpu(1, backlog_s=2 * 86400)), book(offer()), Policy())
    assert decision.scope == "cloud" and decision.excluded["local_wait_too_long"] == 1


def test_a_confidential_job_queues_beyond_the_maximum_local_wait():
    # Seeds 003 §1.3 and 002 §2: refused only when no suitable local GPU exists.
    busy = gpu(1, backlog_s=2 * 86400)
    secret = job(confidentiality=Confidentiality.CONFIDENTIAL)
    decision = decide(secret, fleet(busy), book(offer()), Policy(max_local_wait_s=1800))
    assert decision.placed and decision.scope == "local"
    assert decision.choice.wait_s == 2 * 86400
    assert Code.CONFIDENTIAL_QUEUED in decision.reasons
    assert "Starts in about 48.0 h" in decision.reason
    record = decision.to_dict()
    assert record["choice"]["wait_s"] == 2 * 86400
    assert "confidential_queued" in record["reasons"]


def test_a_confidential_job_is_refused_when_no_local_gpu_is_suitable():
    small, old = gpu(1, vram=8), gpu(2, cuda="11.0")
    away = gpu(3, status=GpuStatus.MAINTENANCE)
    secret = replace(job(confidentiality=Confidentiality.CONFIDENTIAL), min_cuda="12.0")
    decision = decide(secret, fleet(small, old, away), book(offer()), Policy())
    assert not decision.placed and decision.code == Code.CONFIDENTIAL_NO_LOCAL
    assert decision.excluded["vram_too_small"] == 1
    assert decision.excluded["cuda_too_old"] == 1
    assert decision.excluded["gpu_unavailable"] == 1


def test_data_residency_keeps_the_job_in_its_region():
    offers = book(offer(price=0.2, region="NA-US"), offer(price=0.5, region="EU-FR"))
    decision = decide(job(region="eu"), fleet(), offers, Policy())
    assert decision.choice.region == "EU-FR" and decision.excluded == {"region": 1}


def test_stale_prices_and_unreliable_hosts_are_not_used():
    offers = book(offer(price=0.1, priced_at=NOW - timedelta(hours=7), offer_id="old"),
                  offer(price=0.2, reliability=0.5, offer_id="flaky"),
                  offer(price=0.3, offer_id="good"))
    decision = decide(job(), fleet(), offers, Policy())
    assert placed_on(decision) == "good"
    assert decision.excluded == {"low_reliability": 1, "stale_price": 1}


def test_disabled_providers_are_skipped():
    offers = book(offer("vastai", 0.1), offer("runpod", 0.5))
    decision = decide(job(), fleet(), offers, Policy(enabled_providers=frozenset({"runpod"})))
    assert decision.choice.provider == "runpod"
    assert decision.excluded == {"provider_disabled": 1}


# ---------------------------------------------------------------- budget caps

def test_hourly_price_cap():
    offers = book(offer(price=2.0, offer_id="dear"), offer(price=0.5, model="RTX 3090",
                                                          offer_id="cheap"))
    decision = decide(job(), fleet(), offers, Policy(max_hourly_price=1.0))
    assert placed_on(decision) == "cheap" and decision.excluded == {"over_hourly_cap": 1}


def test_job_cost_cap_and_monthly_budget():
    spec = job(duration_s=3600 * 10, size_gb=0)
    offers = book(offer(price=1.0, boot_s=0))
    assert not decide(spec, fleet(), offers, Policy(max_job_cost=0.01)).placed
    near_limit = fleet(month_spend=99.99)
    refused = decide(spec, near_limit, offers, Policy(monthly_budget=100.0))
    assert not refused.placed and refused.code == Code.NO_FIT
    assert refused.excluded == {"over_monthly_budget": 1}
    assert "1 over monthly budget" in refused.reason
    assert decide(spec, fleet(month_spend=10), offers, Policy(monthly_budget=100.0)).placed


def test_spot_survives_a_cap_its_on_demand_price_fails():
    offers = book(offer(price=2.0, spot=0.5))
    decision = decide(job(), fleet(), offers, Policy(max_hourly_price=1.0))
    assert decision.choice.spot and decision.excluded == {}


# ---------------------------------------------------------------- spot risk

def test_spot_cost_carries_its_interruption_risk():
    spec = job(work_h=10, size_gb=0)
    calm = decide(spec, fleet(), book(offer(price=1.0, spot=0.5, interruption_per_hour=0.0,
                                            boot_s=0)), Policy())
    risky = decide(spec, fleet(), book(offer(price=1.0, spot=0.5, interruption_per_hour=0.5,
                                             boot_s=0)), Policy())
    assert calm.choice.spot and calm.choice.interruption_risk == 0
    assert calm.choice.cost == pytest.approx(0.5 * calm.choice.runtime_s / 3600)
    # Ten hours at one interruption every two hours: starting over each time
    # makes spot dearer than on-demand.
    assert risky.choice.spot is False
    spot_alt = next(a for a in risky.alternatives if a.option.spot)
    hours = risky.choice.runtime_s / 3600
    assert spot_alt.option.interruption_risk == pytest.approx(1 - math.exp(-0.5 * hours))
    assert spot_alt.option.cost == pytest.approx(0.5 * math.expm1(0.5 * hours) / 0.5)
    assert spot_alt.option.cost > risky.choice.cost


# ---------------------------------------------------------------- estimates

def test_local_cost_per_hour_is_energy_plus_depreciation():
    # 450 W at 0.30 per kWh, 1800 over 5 years of 2000 working hours.
    assert local_cost_per_hour(450, 0.30, 1800, 10_000) == pytest.approx(0.135 + 0.18)


def test_runtime_from_benchmark_then_observed_then_table():
    analyses = ("shots",)
    table, source = runtime_s(analyses, 100, "NVIDIA GeForce RTX 4090", RuntimeKnowledge())
    assert source == RuntimeSource.TABLE
    assert table == pytest.approx(JOB_OVERHEAD_S + 0.02 * 100)
    seen = RuntimeKnowledge(observed={("RTX4090", "shots"): 0.5})
    assert runtime_s(analyses, 100, "RTX 4090", seen)[0] == pytest.approx(JOB_OVERHEAD_S + 50)
    measured = RuntimeKnowledge(benchmarks={("RTX4090", "shots"): 0.1},
                                observed={("RTX4090", "shots"): 0.5})
    seconds, source = runtime_s(analyses, 100, "RTX 4090", measured)
    assert (seconds, source) == (pytest.approx(JOB_OVERHEAD_S + 10), RuntimeSource.BENCHMARK)
    own, _ = runtime_s(analyses, 100, "RTX 4090", measured, profile={"shots": 0.01})
    assert own == pytest.approx(JOB_OVERHEAD_S + 1)


def test_unknown_gpu_models_are_planned_as_slow_and_flagged():
    decision = decide(job(), fleet(gpu(1, model="Mystery X1")), EMPTY, Policy())
    assert decision.choice.runtime_source == "unknown_model"
    assert Code.UNKNOWN_GPU_MODEL in decision.reasons
    known = decide(job(), fleet(gpu(1)), EMPTY, Policy())
    assert decision.choice.runtime_s > known.choice.runtime_s


@pytest.mark.parametrize("name, key, faster_than_4090", [
    ("NVIDIA GeForce RTX 4090", "RTX4090", None),
    ("NVIDIA H100 80GB HBM3", "H100HBM3", True),
    ("A100-80GB-SXM", "A100", True),
    ("RTX4080S", "RTX4080S", False),
    ("Tesla V100", "V100", False),
])
def test_gpu_names_are_normalised_for_the_performance_table(name, key, faster_than_4090):
    assert normalise(name) == key
    relative = relative_performance(name)
    assert relative is not None
    if faster_than_4090 is not None:
        assert (relative > 1) is faster_than_4090


def test_the_decision_record_is_json_ready_and_explains_itself():
    import json
    decision = decide(job(urgency=Urgency.HIGH), fleet(gpu(1, cost=0.01, backlog_s=7200)),
                      book(offer("vastai", 0.4), offer("runpod", 0.6, model="A100", vram=80)),
                      Policy())
    record = json.loads(json.dumps(decision.to_dict()))
    assert record["placed"] and record["scope"] == "cloud" and record["queue"] == "gpu.cloud.24"
    assert record["code"] == "urgent_local_wait"
    assert record["choice"]["provider"] in ("vastai", "runpod")
    assert record["choice"]["duration_s"] == pytest.approx(
        record["choice"]["wait_s"] + record["choice"]["runtime_s"])
    assert {alt["lost"] for alt in record["alternatives"]} <= {c.value for c in Code}
    assert "goes to" in record["reason"] and "costs about $" in record["reason"]
    in_euro = decide(job(), fleet(gpu(1)), EMPTY, Policy(currency="EUR"))
    assert in_euro.reason.endswith(" EUR.") and "$" not in in_euro.reason
    assert len(record["alternatives"]) == 2
