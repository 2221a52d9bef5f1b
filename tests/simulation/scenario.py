"""Tiny, hand-checkable replay scenarios: jobs, GPUs and offers built in code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_tasks.kernel.placement import JobSpec, LocalGpu, Offer, Policy, RuntimeKnowledge
from aima_tasks.kernel.placement.performance import runtime_s
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market, market
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.placing import Placement, ReplayView

# A Monday.
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def job(job_id: str, at: datetime, *, media: str = "image", size: int = 0,
        analyses: tuple[str, ...] = ("phash",), confidentiality: str = "internal",
        urgency: str = "normal", priority: int = 0, duration: float | None = None,
        region: str | None = None, groups: tuple[str, ...] = (),
        factor: float = 1.0) -> TraceJob:
    spec = JobSpec(media_type=MediaType(media), size_bytes=size, analyses=analyses,
                   confidentiality=Confidentiality(confidentiality), urgency=Urgency(urgency),
                   priority=priority, duration_s=duration, region=region,
                   groups=frozenset(groups))
    return TraceJob(job_id=job_id, arrival_s=at.timestamp(), spec=spec, runtime_factor=factor)


def offer(**overrides: object) -> Offer:
    fields: dict[str, object] = {
        "provider": "aws", "instance_type": "g.test", "gpu_model": "RTX4090", "vram_gb": 24.0,
        # $3.60 an hour: a tenth of a cent a second, easy to add up by hand.
        "price_per_hour": 3.6, "region": "us-east-1", "boot_s": 100.0,
    }
    fields.update(overrides)
    return Offer(**fields)  # type: ignore[arg-type]


def fleet(*gpus: LocalGpu, grace: float = 60.0, policy: Policy | None = None) -> Fleet:
    return Fleet(gpus=gpus, policy=policy or Policy(), idle_grace_s=grace)


def book(*offers: Offer, capacity: dict[str, int] | None = None,
         priced_at: datetime = MONDAY) -> Market:
    return market(offers, priced_at, provider_capacity=capacity)


def estimate(trace_job: TraceJob, model: str) -> float:
    """The planning estimate the engine and the baselines use for a job on a model."""
    spec = trace_job.spec
    return runtime_s(spec.analyses, spec.work_units, model, RuntimeKnowledge())[0]


@dataclass
class Fixed:
    """A placer that puts every job in the same place: replay mechanics alone."""

    placement: Placement
    name: str = "fixed"
    label: str = "fixed placement"
    kind: Kind = Kind.STRATEGY

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        return self.placement
