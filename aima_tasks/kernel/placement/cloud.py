"""Cloud options for one job: the offers that pass the job's hard rules, what
each would cost and take on demand and as spot, and each provider's best.

Vectorised over an ``OfferBook`` with numpy, because the simulator decides
thousands of jobs against thousands of offers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from aima_tasks.kernel import routing
from aima_tasks.kernel.placement.decision import Code, Option
from aima_tasks.kernel.placement.inputs import FleetState, JobSpec, Policy
from aima_tasks.kernel.placement.offers import OfferBook, cuda_number
from aima_tasks.kernel.placement.performance import rate


class _Mode(NamedTuple):
    """On demand or spot, over the eligible offers: which may still be taken,
    and their price per hour, expected cost and expected runtime."""

    spot: bool
    mask: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    run: np.ndarray


class _Estimates(NamedTuple):
    """Per eligible offer: runtime, upload and setup (boot and upload) seconds,
    billed seconds, and the runtime source per GPU model of the book."""

    runtime: np.ndarray
    upload: np.ndarray
    setup: np.ndarray
    billed: np.ndarray
    source_by_model: list[str]


def cloud_options(spec: JobSpec, fleet: FleetState, book: OfferBook, policy: Policy,
                  min_vram: float, min_cuda: str, excluded: Counter[str],
                  notes: list[str]) -> list[Option]:
    """Each provider's best on-demand and spot option, and the next cheapest overall."""
    if not len(book):
        return []
    index = _eligible(spec, fleet, book, policy, min_vram, min_cuda, excluded)
    if not len(index):
        return []
    estimates = _estimate(spec, fleet, book, policy, index)
    modes, risk = _modes(spec, book, policy, index, estimates, notes)
    _apply_caps(policy, fleet, modes, len(index), excluded)
    picks = _picks(book, index, modes, estimates.setup, policy.alternatives + 1)
    by_mode = {mode.spot: mode for mode in modes}
    options = []
    for spot, position in picks:
        mode = by_mode[spot]
        offer = book.offers[int(index[position])]
        options.append(Option(
            scope=routing.Scope.CLOUD.value, provider=offer.provider, gpu_model=offer.gpu_model,
            spot=spot, price_per_hour=float(mode.price[position]),
            wait_s=float(estimates.setup[position]), runtime_s=float(mode.run[position]),
            cost=float(mode.cost[position]),
            runtime_source=estimates.source_by_model[int(book.model_idx[index[position]])],
            offer_id=offer.key, instance_type=offer.instance_type, region=offer.region,
            vram_gb=offer.vram_gb, upload_s=float(estimates.upload[position]),
            interruption_risk=float(risk[position]) if spot else 0.0))
    return options


def _eligible(spec: JobSpec, fleet: FleetState, book: OfferBook, policy: Policy,
              min_vram: float, min_cuda: str, excluded: Counter[str]) -> np.ndarray:
    """Book positions of the offers that pass the hard rules and are freshly
    priced: in book order, so still grouped by provider and cheapest first
    within each."""
    static, counts = _static_filter(spec, book, policy, min_vram, min_cuda)
    excluded.update(counts)
    fresh = book.priced_at >= fleet.now.timestamp() - policy.max_price_age_s
    _count(excluded, Code.STALE_PRICE, static & ~fresh)
    return np.flatnonzero(static & fresh)


def _estimate(spec: JobSpec, fleet: FleetState, book: OfferBook, policy: Policy,
              index: np.ndarray) -> _Estimates:
    overheads, per_units, source_by_model = _rates_by_model(spec, fleet, book)
    models = book.model_idx[index]
    runtime = overheads[models] + per_units[models] * spec.work_units
    bandwidth = np.minimum(book.bandwidth_mbps[index], policy.upload_mbps)
    upload = spec.size_bytes * 8 / (bandwidth * 1e6)
    setup = book.boot_s[index] + upload
    return _Estimates(runtime, upload, setup, setup + runtime, source_by_model)


def _modes(spec: JobSpec, book: OfferBook, policy: Policy, index: np.ndarray,
           estimates: _Estimates, notes: list[str]) -> tuple[list[_Mode], np.ndarray]:
    """On demand for every offer, spot for those with a spot price where the
    job's urgency allows it; and each offer's risk of a spot interruption."""
    price = book.price[index]
    billed = estimates.billed
    modes = [_Mode(False, np.ones(len(index), dtype=bool), price, price * billed / 3600,
                   estimates.runtime)]
    spot_price = book.spot_price[index]
    has_spot = ~np.isnan(spot_price)
    risk = np.zeros(len(index))
    if spec.urgency not in policy.spot_urgencies:
        if has_spot.any():
            notes.append(Code.SPOT_NOT_FOR_URGENCY)
    elif has_spot.any():
        rate = book.interruption_per_hour[index]
        rate = np.where(np.isnan(rate), policy.spot_interruption_per_hour, rate)
        # An interrupted job starts over (boot, upload and all its work): with
        # interruptions as a Poisson process of rate r, an attempt of h hours
        # is expected to take (e^(r*h) - 1) / r hours until one runs through.
        hours = billed / 3600
        safe_rate = np.maximum(rate, 1e-12)
        expected_hours = np.where(rate > 0, np.expm1(safe_rate * hours) / safe_rate, hours)
        risk = -np.expm1(-rate * hours)
        modes.append(_Mode(True, has_spot, spot_price, spot_price * expected_hours,
                           expected_hours * 3600 - estimates.setup))
    return modes, risk


def _apply_caps(policy: Policy, fleet: FleetState, modes: list[_Mode], size: int,
                excluded: Counter[str]) -> None:
    """Narrows each mode's mask to the offers within the policy's price caps;
    an offer no mode can take counts against the first cap it failed."""
    caps: list[tuple[Code, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = []
    if policy.max_hourly_price is not None:
        cap = policy.max_hourly_price
        caps.append((Code.OVER_HOURLY_CAP, lambda price, cost: price <= cap))
    if policy.max_job_cost is not None:
        job_cap = policy.max_job_cost
        caps.append((Code.OVER_JOB_COST_CAP, lambda price, cost: cost <= job_cap))
    if policy.monthly_budget is not None:
        left = policy.monthly_budget - fleet.month_spend
        caps.append((Code.OVER_MONTHLY_BUDGET, lambda price, cost: cost <= left))
    if not caps:
        return
    survivors = np.zeros(size, dtype=bool)
    first_failure: dict[Code, np.ndarray] = {}
    for mode in modes:
        mask = mode.mask
        for code, test in caps:
            passed = test(mode.price, mode.cost)
            if code not in first_failure:
                first_failure[code] = mask & ~passed
            mask &= passed
        survivors |= mask
    for code, failed in first_failure.items():
        _count(excluded, code, failed & ~survivors)


def _picks(book: OfferBook, index: np.ndarray, modes: list[_Mode], setup: np.ndarray,
           runners_up: int) -> dict[tuple[bool, int], None]:
    """(spot, position) of each provider's cheapest offer per mode and of the
    ``runners_up`` cheapest anywhere, in the order found."""
    provider_of = book.provider_idx[index]
    starts = np.flatnonzero(provider_of[1:] != provider_of[:-1]) + 1
    starts = np.concatenate((np.zeros(1, dtype=starts.dtype), starts))
    sizes = np.diff(np.append(starts, len(index)))
    picks: dict[tuple[bool, int], None] = {}
    for mode in modes:
        masked = np.where(mode.mask, mode.cost, np.inf)
        # Each provider's cheapest; equal costs: the sooner finish, then the
        # book's order.
        cheapest = np.minimum.reduceat(masked, starts)
        tied = np.flatnonzero((masked == np.repeat(cheapest, sizes)) & np.isfinite(masked))
        finish = setup[tied] + mode.run[tied]
        best: dict[int, tuple[float, int]] = {}
        for position, seconds, provider in zip(tied.tolist(), finish.tolist(),
                                               provider_of[tied].tolist(), strict=True):
            if provider not in best or seconds < best[provider][0]:
                best[provider] = (seconds, position)
        for _, position in best.values():
            picks[(mode.spot, position)] = None
        # The next cheapest anywhere, to show what else was close.
        top = (np.argpartition(masked, runners_up)[:runners_up]
               if len(masked) > runners_up else np.arange(len(masked)))
        for position in top[np.isfinite(masked[top])].tolist():
            picks[(mode.spot, position)] = None
    return picks


def any_offer_fits(spec: JobSpec, book: OfferBook, policy: Policy, min_vram: float,
                   min_cuda: str) -> bool:
    """Whether an offer of an enabled provider, in the job's region and reliable
    enough, has the VRAM and CUDA (prices and budgets aside)."""
    return bool(len(book)) and bool(_static_filter(spec, book, policy, min_vram,
                                                    min_cuda)[0].any())


def _static_filter(spec: JobSpec, book: OfferBook, policy: Policy, min_vram: float,
                   min_cuda: str) -> tuple[np.ndarray, dict[Code, int]]:
    """Offers that pass every filter that does not change between jobs of the
    same needs, and how many each filter excluded; remembered per book."""
    key = (min_vram, min_cuda, (spec.region or "").upper(), policy.enabled_providers,
           policy.min_reliability)
    if key in book.memo:
        return book.memo[key]
    filters: list[tuple[Code, np.ndarray]] = []
    if policy.enabled_providers is not None:
        allowed = np.array([p in policy.enabled_providers for p in book.providers], dtype=bool)
        filters.append((Code.PROVIDER_DISABLED, allowed[book.provider_idx]))
    filters.append((Code.VRAM_TOO_SMALL, book.vram_gb >= min_vram))
    filters.append((Code.CUDA_TOO_OLD, book.cuda >= cuda_number(min_cuda)))
    if spec.region:
        prefix = spec.region.upper()
        region_ok = np.array([r.upper().startswith(prefix) for r in book.regions], dtype=bool)
        filters.append((Code.REGION, region_ok[book.region_idx]))
    filters.append((Code.LOW_RELIABILITY, book.reliability >= policy.min_reliability))
    eligible = np.ones(len(book), dtype=bool)
    counts: dict[Code, int] = {}
    for code, passed in filters:
        failed = int(np.count_nonzero(eligible & ~passed))
        if failed:
            counts[code] = failed
        eligible &= passed
    if len(book.memo) > 256:
        book.memo.clear()
    book.memo[key] = (eligible, counts)
    return eligible, counts


def _rates_by_model(spec: JobSpec, fleet: FleetState,
                    book: OfferBook) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per GPU model of the book: fixed and per-unit seconds, and their source;
    remembered per book for the same analyses and the same knowledge."""
    key = ("rates", spec.analyses)
    known = book.memo.get(key)
    if known is not None and known[0] is fleet.knowledge:
        return known[1:]
    estimates = [rate(spec.analyses, model, fleet.knowledge) for model in book.models]
    rates = (np.array([overhead for overhead, _, _ in estimates], dtype=np.float64),
             np.array([per_unit for _, per_unit, _ in estimates], dtype=np.float64),
             [source.value for _, _, source in estimates])
    book.memo[key] = (fleet.knowledge, *rates)
    return rates


def _count(excluded: Counter[str], code: Code, failed: np.ndarray) -> None:
    count = int(np.count_nonzero(failed))
    if count:
        excluded[code] += count
