"""The placement engine: ``decide(job, fleet, offers, policy) -> Decision``.

Pure and deterministic: no Django, no Celery, no clock, no I/O; the same
inputs give the same decision, in production and in the what-if simulator.

Order of reasoning (seeds 002 §2 and 003 §1):
1. hard rules that exclude options: confidentiality (confidential never
   leaves local hardware), VRAM and CUDA, GPU status and access restrictions,
   data residency, stale prices, reliability, budget caps, spot by urgency;
2. estimates for what is left: wait (local backlog and availability window,
   cloud boot and upload), runtime per GPU model, expected cost with spot
   interruption risk;
3. the strategy's choice between the best local and the best cloud option.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from aima_tasks.kernel import routing
from aima_tasks.kernel.classification import USABLE_GPU_STATUSES, Confidentiality, Urgency
from aima_tasks.kernel.placement.cloud import cloud_options
from aima_tasks.kernel.placement.decision import Alternative, Code, Decision, Option
from aima_tasks.kernel.placement.inputs import (
    LOCAL,
    FleetState,
    JobSpec,
    LocalGpu,
    Policy,
    Strategy,
    cuda_tuple,
)
from aima_tasks.kernel.placement.offers import OfferBook
from aima_tasks.kernel.placement.offline import wait_for_offline
from aima_tasks.kernel.placement.performance import RuntimeSource, rate
from aima_tasks.kernel.schedule import second_of_week

GB = 1e9


def decide(spec: JobSpec, fleet: FleetState, offers: OfferBook, policy: Policy) -> Decision:
    need = spec.vram_need_gb
    min_cuda = spec.min_cuda
    try:
        gpu_class = routing.class_for_need(need)
    except routing.NoGpuClass as exc:
        return Decision(placed=False, code=Code.TOO_LARGE, reason=str(exc),
                        strategy=policy.strategy, vram_need_gb=need, min_cuda=min_cuda)
    # A card serves a class by the same rule the agents subscribe by.
    min_vram = gpu_class * routing.VRAM_TOLERANCE
    excluded: Counter[str] = Counter()
    notes: list[str] = []

    local, blocked = _local_options(spec, fleet, policy, min_vram, min_cuda, excluded)
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        cloud: list[Option] = []
        if len(offers):
            excluded[Code.CONFIDENTIAL_LOCAL_ONLY] += len(offers)
    else:
        cloud = cloud_options(spec, fleet, offers, policy, min_vram, min_cuda, excluded, notes)

    if not local and not cloud:
        return (wait_for_offline(spec, fleet, policy, gpu_class, [g for g, *_ in blocked],
                                 excluded, _max_wait(spec, policy))
                or _unplaced(spec, fleet, offers, policy, gpu_class, min_vram, excluded, blocked))

    rank = _ranking(policy)
    best_local = min(local, key=rank) if local else None
    best_cloud = min(cloud, key=rank) if cloud else None
    reasons: list[Code] = []
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        reasons.append(Code.CONFIDENTIAL_LOCAL_ONLY)

    dropped: dict[int, tuple[Code, str]] = {}
    if (best_local and best_cloud and spec.urgency == Urgency.HIGH
            and best_local.wait_s > policy.urgent_local_wait_s):
        why = (f"waits {_minutes(best_local.wait_s)} locally; urgent jobs go to the cloud "
               f"after {_minutes(policy.urgent_local_wait_s)}")
        for option in local:
            dropped[id(option)] = (Code.URGENT_LOCAL_WAIT, why)
        reasons.append(Code.URGENT_LOCAL_WAIT)
        best_local = None

    choice, code, rule = _choose(spec, policy, local, cloud, best_local, best_cloud)
    reasons = _reasons(reasons, code, choice, notes, policy)

    scope = routing.Scope(choice.scope)
    return Decision(
        placed=True, code=code, strategy=policy.strategy, vram_need_gb=need, min_cuda=min_cuda,
        gpu_class=gpu_class, scope=scope, queue=routing.gpu_queue(scope, gpu_class),
        choice=choice, reasons=tuple(reasons),
        reason=_sentence(spec, choice, rule, policy.currency),
        alternatives=_alternatives(policy, choice, code, rule, local, cloud, dropped, rank),
        excluded=_counts(excluded),
    )


# ---------------------------------------------------------------- local GPUs

def _local_options(spec: JobSpec, fleet: FleetState, policy: Policy, min_vram: float,
                   min_cuda: str, excluded: Counter[str],
                   ) -> tuple[list[Option], list[tuple[LocalGpu, Code, float]]]:
    """The best few options on local GPUs, and the GPUs that have the VRAM but
    cannot take the job now (with why, and the wait where that is the reason)."""
    blocked: list[tuple[LocalGpu, Code, float]] = []
    cuda_needed = cuda_tuple(min_cuda)
    week_offset, groups, max_wait = second_of_week(fleet.now), spec.groups, _max_wait(spec, policy)
    units = spec.work_units
    rates: dict[str, tuple[float, float, RuntimeSource]] = {}
    by_finish = policy.strategy == Strategy.LOCAL_FIRST
    # Light tuples, ranked as ``_ranking`` ranks options of one provider; only
    # the few that can matter become Options.
    ranked: list[tuple[float, float, int, LocalGpu, float, float, RuntimeSource]] = []
    too_small = 0
    for gpu in fleet.gpus:
        if gpu.vram_gb < min_vram:
            too_small += 1
            continue
        code = None
        wait = 0.0
        if gpu.status not in USABLE_GPU_STATUSES:
            code = Code.GPU_UNAVAILABLE
        elif cuda_tuple(gpu.cuda_version) < cuda_needed:
            code = Code.CUDA_TOO_OLD
        elif gpu.access_groups and not gpu.access_groups & groups:
            code = Code.ACCESS_DENIED
        else:
            schedule = gpu.schedule
            wait = (gpu.backlog_s if schedule.always
                    else schedule.wait_from(week_offset, gpu.backlog_s))
            if wait > max_wait or math.isinf(wait):
                code = Code.LOCAL_WAIT_TOO_LONG
        if code is not None:
            excluded[code] += 1
            blocked.append((gpu, code, wait))
            continue
        if gpu.profile:
            overhead, per_unit, source = rate(spec.analyses, gpu.model, fleet.knowledge,
                                              gpu.profile)
        else:
            if gpu.model not in rates:
                rates[gpu.model] = rate(spec.analyses, gpu.model, fleet.knowledge)
            overhead, per_unit, source = rates[gpu.model]
        runtime = overhead + per_unit * units
        cost = gpu.cost_per_hour * runtime / 3600
        finish = wait + runtime
        first, second = (finish, cost) if by_finish else (cost, finish)
        ranked.append((first, second, gpu.gpu_id, gpu, wait, runtime, source))
    if too_small:
        excluded[Code.VRAM_TOO_SMALL] += too_small
    blocked.sort(key=lambda item: item[0].gpu_id)
    best = heapq.nsmallest(policy.alternatives + 1, ranked, key=lambda item: item[:3])
    return [Option(
        scope=routing.Scope.LOCAL.value, provider=LOCAL, gpu_model=gpu.model, spot=False,
        price_per_hour=gpu.cost_per_hour, wait_s=wait, runtime_s=runtime,
        cost=gpu.cost_per_hour * runtime / 3600, runtime_source=source.value,
        gpu_id=gpu.gpu_id, host=gpu.host, vram_gb=gpu.vram_gb)
        for *_, gpu, wait, runtime, source in best], blocked


def _max_wait(spec: JobSpec, policy: Policy) -> float:
    """Seeds 003 §1.3 and 002 §2: a confidential job is refused only when no
    suitable local GPU exists; otherwise it waits however long that takes."""
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        return math.inf
    return policy.max_local_wait_s


def _counts(excluded: Counter[str]) -> dict[str, int]:
    return {str(code): n for code, n in sorted(excluded.items())}


# ---------------------------------------------------------------- choosing

def _ranking(policy: Policy) -> Callable[[Option], tuple]:
    def by_cost(option: Option) -> tuple:
        return (option.cost, option.duration_s, option.provider, option.offer_id,
                option.gpu_id or 0, option.spot)

    def local_by_finish(option: Option) -> tuple:
        # Local first: the local GPU that finishes first, else the cheapest cloud.
        if option.provider == LOCAL:
            return (0, option.duration_s, option.cost, option.gpu_id or 0)
        return (1, *by_cost(option))

    if policy.strategy == Strategy.PROVIDER_PRIORITY:
        order = {name: i for i, name in enumerate(policy.provider_order)}

        def by_rank(option: Option) -> tuple:
            return (order.get(option.provider, len(order)), *by_cost(option))
        return by_rank
    if policy.strategy == Strategy.LOCAL_FIRST:
        return local_by_finish
    return by_cost


def _reasons(reasons: list[Code], code: Code, choice: Option, notes: list[str],
             policy: Policy) -> list[Code]:
    """Every reason code that applied, the deciding rule's first, each once."""
    reasons = [*reasons, code]
    if choice.scope == routing.Scope.LOCAL.value and choice.wait_s > policy.max_local_wait_s:
        # Only a confidential job gets here: it queues for its GPU, and its
        # estimated start (choice.wait_s) is the record's answer to "when".
        reasons.append(Code.CONFIDENTIAL_QUEUED)
    if choice.spot:
        reasons.append(Code.SPOT)
    if choice.runtime_source == RuntimeSource.UNKNOWN_MODEL:
        reasons.append(Code.UNKNOWN_GPU_MODEL)
    reasons.extend(Code(n) for n in notes)
    return list(dict.fromkeys(reasons))


def _choose(spec: JobSpec, policy: Policy, local: list[Option], cloud: list[Option],
            best_local: Option | None, best_cloud: Option | None) -> tuple[Option, Code, str]:
    """The winner, the code of the rule that picked it, and that rule in words."""
    if best_local is None:
        assert best_cloud is not None
        code = Code.URGENT_LOCAL_WAIT if local else Code.NO_LOCAL_FIT
        return best_cloud, code, "no local GPU can take it" if not local else \
            "the local wait is too long for an urgent job"
    if best_cloud is None:
        if spec.confidentiality == Confidentiality.CONFIDENTIAL:
            return best_local, Code.CONFIDENTIAL_LOCAL_ONLY, \
                "confidential media never leave local hardware"
        return best_local, Code.NO_CLOUD_FIT, "no cloud offer can take it"

    strategy = policy.strategy
    if strategy == Strategy.LOCAL_FIRST:
        return best_local, Code.LOCAL_FIRST, "the local-first strategy uses local GPUs first"
    if strategy == Strategy.PROVIDER_PRIORITY:
        winner = min(best_local, best_cloud, key=_ranking(policy))
        return winner, Code.PROVIDER_PRIORITY, \
            f"the provider order is {' > '.join(policy.provider_order) or '(none set)'}"
    if strategy == Strategy.COST_FIRST:
        winner = min(best_local, best_cloud, key=_ranking(policy))
        return winner, Code.CHEAPEST, "the cost-first strategy takes the cheapest option"

    local_cost, cloud_cost = best_local.cost, best_cloud.cost
    if (spec.size_bytes > policy.large_media_gb * GB
            and best_cloud.upload_s > policy.large_media_upload_s
            and cloud_cost > local_cost * (1 - policy.large_media_cloud_advantage)):
        return best_local, Code.LARGE_MEDIA_LOCAL, (
            f"media over {policy.large_media_gb:g} GB whose upload takes more than "
            f"{_minutes(policy.large_media_upload_s)} stay local unless the cloud is more "
            f"than {policy.large_media_cloud_advantage:.0%} cheaper")
    public = spec.confidentiality == Confidentiality.PUBLIC
    # Public media lean to the cloud, the rest to local GPUs: the side leaned
    # to wins unless it costs more than the tolerance above the other.
    favoured, other = (best_cloud, best_local) if public else (best_local, best_cloud)
    (won, won_rule), (lost, lost_rule) = _LEANING[public]
    share = f"{policy.local_tolerance:.0%}"
    if favoured.cost <= other.cost * (1 + policy.local_tolerance):
        return favoured, won, won_rule.format(share=share)
    return other, lost, lost_rule.format(share=share)


# By whether the media are public: the code and rule when the favoured side
# wins, then when the other side does.
_LEANING = {
    True: ((Code.PUBLIC_CLOUD_PREFERRED,
            "public media prefer the cloud unless local is more than {share} cheaper"),
           (Code.LOCAL_CHEAPER, "local is more than {share} cheaper than the cloud")),
    False: ((Code.LOCAL_WITHIN_TOLERANCE,
             "local GPUs are preferred while they cost at most {share} more than the cloud"),
            (Code.CLOUD_CHEAPER, "the cloud is more than {share} cheaper than local")),
}


def _alternatives(policy: Policy, choice: Option, code: Code, rule: str, local: list[Option],
                  cloud: list[Option], dropped: dict[int, tuple[Code, str]],
                  rank: Callable[[Option], tuple]) -> tuple[Alternative, ...]:
    others = sorted((o for o in local + cloud if o is not choice), key=rank)
    # The best option of the other scope explains the decision best: first.
    other_scope = [o for o in others if o.scope != choice.scope][:1]
    ordered = other_scope + [o for o in others if o not in other_scope]
    picked = []
    for option in ordered[:policy.alternatives]:
        lost, why = dropped.get(id(option)) or _why_lost(policy, choice, code, rule, option)
        picked.append(Alternative(option=option, lost=lost, why=why))
    return tuple(picked)


def _why_lost(policy: Policy, choice: Option, code: Code, rule: str,
              option: Option) -> tuple[Code, str]:
    if code == Code.PROVIDER_PRIORITY and option.provider != choice.provider:
        return Code.LOWER_PROVIDER_RANK, f"{option.provider} ranks below {choice.provider}"
    if code == Code.LOCAL_FIRST and option.scope != choice.scope:
        return Code.NOT_LOCAL, rule
    later = (Code.FINISHES_LATER, f"finishes in {_minutes(option.duration_s)} instead of "
                                  f"{_minutes(choice.duration_s)}")
    if policy.strategy == Strategy.LOCAL_FIRST and option.duration_s > choice.duration_s:
        return later
    if option.cost > choice.cost:
        return Code.MORE_EXPENSIVE, (f"costs {_money(option.cost, policy.currency)} vs "
                                     f"{_money(choice.cost, policy.currency)}")
    if option.scope != choice.scope:
        return Code.LOST_TO_RULE, (f"{rule} ({_money(option.cost, policy.currency)} vs "
                                    f"{_money(choice.cost, policy.currency)})")
    return later


# ---------------------------------------------------------------- nothing fits

def _unplaced(spec: JobSpec, fleet: FleetState, offers: OfferBook, policy: Policy,
              gpu_class: int, min_vram: float, excluded: Counter[str],
              blocked: list[tuple[LocalGpu, Code, float]]) -> Decision:
    need, min_cuda = spec.vram_need_gb, spec.min_cuda
    suggestions: list[str] = []
    for gpu, code, wait in blocked:
        remedy = _REMEDIES.get(code)
        if remedy is not None:
            suggestions.append(remedy.format(
                label=f"local GPU #{gpu.gpu_id} ({gpu.model} @ {gpu.host})", status=gpu.status,
                cuda=gpu.cuda_version, min_cuda=min_cuda, wait=_minutes(wait),
                groups=", ".join(sorted(gpu.access_groups))))
    usable = [g for g in fleet.gpus if g.status in USABLE_GPU_STATUSES and g.vram_gb < min_vram]
    if usable:
        biggest = max(usable, key=lambda g: (g.vram_gb, -g.gpu_id))
        suggestions.append(
            f"a smaller model variant or lower precision (fp16/int8) needing at most "
            f"{biggest.vram_gb:g} GB would fit local GPU #{biggest.gpu_id} ({biggest.model})")
    example = _cheapest_fitting_model(offers, min_vram)
    suggestions.append(
        f"register a local GPU with at least {gpu_class} GB VRAM and CUDA {min_cuda}"
        + (f", e.g. an {example}" if example else ""))

    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        code = Code.CONFIDENTIAL_NO_LOCAL
        reason = (f"confidential {spec.media_type} needs a local GPU with {need:g} GB VRAM and "
                  f"CUDA {min_cuda}, and none can take it")
    else:
        code = Code.NO_FIT
        summary = ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in sorted(excluded.items()))
        reason = (f"no local GPU or cloud offer can take this {spec.media_type} job "
                  f"({need:g} GB VRAM, CUDA {min_cuda})"
                  + (f"; excluded: {summary}" if summary else "; there are no offers"))
    return Decision(placed=False, code=code, reason=reason, strategy=policy.strategy,
                    vram_need_gb=need, min_cuda=min_cuda, gpu_class=gpu_class,
                    reasons=(code,), excluded=_counts(excluded),
                    suggestions=tuple(suggestions))


# What to do about a local GPU that has the VRAM but cannot take the job, by why.
_REMEDIES = {
    Code.GPU_UNAVAILABLE: "{label} has the VRAM but is {status}; bring it back into service "
                          "in the admin",
    Code.CUDA_TOO_OLD: "{label} has CUDA {cuda}; update its driver to CUDA {min_cuda} or newer",
    Code.ACCESS_DENIED: "{label} is reserved for {groups}; ask an administrator for access",
    Code.LOCAL_WAIT_TOO_LONG: "{label} frees up in {wait}; submit again then, or raise the "
                              "policy's maximum local wait",
}


def _cheapest_fitting_model(offers: OfferBook, min_vram: float) -> str | None:
    if not len(offers):
        return None
    prices = np.where(offers.vram_gb >= min_vram, offers.price, np.inf)
    best = int(np.argmin(prices))
    if not math.isfinite(prices[best]):
        return None
    offer = offers.offers[best]
    return f"{offer.gpu_model} ({offer.vram_gb:g} GB)"


# ---------------------------------------------------------------- words

def _sentence(spec: JobSpec, choice: Option, rule: str, currency: str) -> str:
    where = choice.label
    return (f"{spec.media_type} job ({spec.vram_need_gb:g} GB VRAM) goes to {where}: {rule}. "
            f"Starts in about {_minutes(choice.wait_s)}, runs about "
            f"{_minutes(choice.runtime_s)}, costs about {_money(choice.cost, currency)}.")


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _money(amount: float, currency: str) -> str:
    figure = f"{amount:.4f}" if 0 < amount < 0.01 else f"{amount:.2f}"
    return f"${figure}" if currency == "USD" else f"{figure} {currency}"
