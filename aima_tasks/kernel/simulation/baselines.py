"""What the engine's strategies are measured against.

B1 rents the cheapest on-demand hyperscaler GPU for every job, as a team
without local GPUs or a placement engine would; it keeps no rule but VRAM
and CUDA, and its violations are counted. B2 is the obvious hand-written
rule: local when a local GPU fits, else the cheapest on-demand offer (it
keeps the hard rules). The lower bound prices each job alone on its cheapest
eligible GPU with no waiting, boot, upload, idle time or interruption: no
schedule can cost less for the jobs it places.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from aima_tasks.kernel.classification import Confidentiality
from aima_tasks.kernel.placement import JobSpec, LocalGpu, Offer, RuntimeKnowledge
from aima_tasks.kernel.placement.performance import runtime_s
from aima_tasks.kernel.simulation import rules
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market
from aima_tasks.kernel.simulation.outcome import Kind, Outcome
from aima_tasks.kernel.simulation.placing import Placement, ReplayView
from aima_tasks.kernel.simulation.replay import LOCAL

HYPERSCALERS = ("aws", "gcp", "azure")


class Estimates:
    """The engine's runtime estimates (the same function), memoised per job shape."""

    def __init__(self, knowledge: RuntimeKnowledge) -> None:
        self.knowledge = knowledge
        self.cache: dict[tuple[tuple[str, ...], float, str], float] = {}

    def on_model(self, job: TraceJob, model: str) -> float:
        spec = job.spec
        key = (spec.analyses, spec.work_units, model)
        if key not in self.cache:
            self.cache[key] = runtime_s(spec.analyses, spec.work_units, model, self.knowledge)[0]
        return self.cache[key]

    def on_gpu(self, job: TraceJob, gpu: LocalGpu) -> float:
        if gpu.profile:
            return runtime_s(job.spec.analyses, job.spec.work_units, gpu.model, self.knowledge,
                             dict(gpu.profile))[0]
        return self.on_model(job, gpu.model)


class HyperscalerOnDemand:
    """B1: every job on the cheapest on-demand hyperscaler offer with the VRAM and CUDA."""

    name = "b1_hyperscaler"
    kind = Kind.BASELINE

    def __init__(self, market: Market, knowledge: RuntimeKnowledge) -> None:
        offers = market.book.offers
        chosen = [i for i, o in enumerate(offers) if o.provider in HYPERSCALERS]
        self.fallback = not chosen
        if self.fallback:
            chosen = list(range(len(offers)))
            self.label = ("B1 fallback: no aws/gcp/azure offers, so the cheapest on-demand "
                          "offer of any provider with the VRAM/CUDA; ignores confidentiality")
        else:
            self.label = ("B1: cheapest on-demand aws/gcp/azure offer with the VRAM/CUDA; "
                          "ignores confidentiality")
        self.offers = offers
        self.order = sorted(chosen, key=lambda i: (offers[i].price_per_hour, offers[i].key))
        self.estimates = Estimates(knowledge)
        self.pick: dict[tuple[float, str], int | None] = {}

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        spec = job.spec
        key = (spec.vram_need_gb, spec.min_cuda)
        if key not in self.pick:
            self.pick[key] = next(
                (i for i in self.order
                 if rules.hardware_fits(spec, self.offers[i].vram_gb, self.offers[i].cuda_version)),
                None)
        index = self.pick[key]
        if index is None:
            return None
        return Placement(runtime_s=self.estimates.on_model(job, self.offers[index].gpu_model),
                         offer=index)


class LocalWhenItFits:
    """B2: the local GPU that can start soonest when one fits, else the cheapest
    on-demand offer that may take the job."""

    name = "b2_local_when_fits"
    kind = Kind.BASELINE
    label = "B2: local GPU when one fits (soonest start), else cheapest on-demand offer"

    def __init__(self, fleet: Fleet, market: Market, knowledge: RuntimeKnowledge) -> None:
        self.gpus = fleet.gpus
        self.zone = fleet.timezone
        offers = market.book.offers
        self.offers = offers
        self.order = sorted(range(len(offers)),
                            key=lambda i: (offers[i].price_per_hour, offers[i].key))
        self.estimates = Estimates(knowledge)
        self.pick: dict[tuple[float, str, str | None], int | None] = {}

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        spec = job.spec
        now = datetime.fromtimestamp(view.now_s, self.zone)
        best: tuple[float, int, int] | None = None
        for index, gpu in enumerate(self.gpus):
            if rules.local_violations(spec, gpu):
                continue
            wait = gpu.schedule.wait_s(now, view.backlog_s(index))
            if wait != float("inf") and (best is None or (wait, gpu.gpu_id) < best[:2]):
                best = (wait, gpu.gpu_id, index)
        if best is not None:
            gpu = self.gpus[best[2]]
            return Placement(runtime_s=self.estimates.on_gpu(job, gpu), gpu=best[2])
        if spec.confidentiality == Confidentiality.CONFIDENTIAL:
            return None
        key = (spec.vram_need_gb, spec.min_cuda, spec.region)
        if key not in self.pick:
            self.pick[key] = next(
                (i for i in self.order if not rules.cloud_violations(spec, self.offers[i])), None)
        index = self.pick[key]
        if index is None:
            return None
        return Placement(runtime_s=self.estimates.on_model(job, self.offers[index].gpu_model),
                         offer=index)


def lower_bound(jobs: Sequence[TraceJob], fleet: Fleet, market: Market,
                knowledge: RuntimeKnowledge | None = None) -> Outcome:
    """Each job alone on its cheapest eligible GPU, paying only its own work.

    Eligible: every hard rule kept (confidentiality, VRAM, CUDA, GPU status,
    access groups, region, enabled providers); spot where the policy allows it
    for the job's urgency.
    """
    estimates = Estimates(knowledge or RuntimeKnowledge())
    policy = fleet.policy
    offers = market.book.offers
    enabled = policy.enabled_providers
    usable_gpus = [g for g in fleet.gpus if g.schedule.intervals]
    cheapest: dict[tuple[float, str, str | None, bool], dict[str, tuple[float, str]]] = {}
    cost: Counter[str] = Counter()
    placed_local = placed_cloud = refused = 0
    for job in jobs:
        spec = job.spec
        best: tuple[float, str] | None = None
        for gpu in usable_gpus:
            if not rules.local_violations(spec, gpu):
                option = (gpu.cost_per_hour * estimates.on_gpu(job, gpu) / 3600, LOCAL)
                best = option if best is None or option < best else best
        if spec.confidentiality != Confidentiality.CONFIDENTIAL:
            spot_ok = spec.urgency in policy.spot_urgencies
            key = (spec.vram_need_gb, spec.min_cuda, spec.region, spot_ok)
            if key not in cheapest:
                cheapest[key] = _cheapest_by_model(
                    spec, [o for o in offers if enabled is None or o.provider in enabled],
                    spot_ok)
            for model, (price, provider) in cheapest[key].items():
                option = (price * estimates.on_model(job, model) / 3600, provider)
                best = option if best is None or option < best else best
        if best is None:
            refused += 1
            continue
        amount, provider = best
        cost[provider] += amount * job.runtime_factor
        if provider == LOCAL:
            placed_local += 1
        else:
            placed_cloud += 1
    return Outcome(
        name="lower_bound", kind=Kind.BOUND,
        label="lower bound: each job alone on its cheapest eligible GPU, work only",
        jobs=len(jobs), total_cost=sum(cost.values()), cost_by_provider=dict(sorted(cost.items())),
        placed_local=placed_local, placed_cloud=placed_cloud, refused=refused, violations=0)


def _cheapest_by_model(spec: JobSpec, offers: Sequence[Offer],
                       spot_ok: bool) -> dict[str, tuple[float, str]]:
    """GPU model -> (lowest hourly price of an offer that may take the job, its provider)."""
    by_model: dict[str, tuple[float, str]] = {}
    for offer in offers:
        if rules.cloud_violations(spec, offer):
            continue
        price = offer.price_per_hour
        if spot_ok and offer.spot_price_per_hour is not None:
            price = min(price, offer.spot_price_per_hour)
        option = (price, offer.provider)
        if offer.gpu_model not in by_model or option < by_model[offer.gpu_model]:
            by_model[offer.gpu_model] = option
    return by_model
