"""What the placement engine decides from: the job, the local fleet, cloud
offers and the administrator's policy. Plain, frozen, typed data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

# cuda_tuple is re-exported: the engine, the offer book and the replay compare with it.
from aima_tasks.kernel.analyses import MEDIA_VRAM_GB, MIN_CUDA, MediaType
from aima_tasks.kernel.analyses import cuda_tuple as cuda_tuple
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.schedule import ALWAYS, Schedule

# The local fleet's name wherever providers are ranked or costs are split.
LOCAL = "local"


class Strategy(StrEnum):
    # Seed 003 §1.3: hard rules, then the urgency, large-media and 10 % rules.
    BALANCED = "balanced"
    # Seed 002 §3: the cheapest eligible resource, whatever its kind.
    COST_FIRST = "cost_first"
    # Seed 002 §3: local whenever a local GPU can take the job, else the cloud.
    LOCAL_FIRST = "local_first"
    # Seed 002 §3: the administrator's order of providers ("local" among them).
    PROVIDER_PRIORITY = "provider_priority"


@dataclass(frozen=True)
class JobSpec:
    """A job as placement sees it. What its analyses ask of a GPU (``analyses_vram_gb``,
    ``min_cuda``) is read from the catalogue by whoever builds it
    (``catalogue().needs(analyses)``): placement itself reads no catalogue."""

    media_type: MediaType
    size_bytes: int
    analyses: tuple[str, ...]
    confidentiality: Confidentiality = Confidentiality.INTERNAL
    urgency: Urgency = Urgency.NORMAL
    # Higher runs first where jobs queue (the simulator's local queues).
    priority: int = 0
    duration_s: float | None = None
    # Data residency: an offer's region must start with this, e.g. "EU".
    region: str | None = None
    # The submitter's groups, checked against GPUs' access restrictions.
    groups: frozenset[str] = frozenset()
    # What the smallest registry model variant the job may use needs.
    model_vram_gb: float = 0.0
    # The most VRAM any of its analyses asks for beyond the media type's need.
    analyses_vram_gb: float = 0.0
    # The newest CUDA any of its analyses needs.
    min_cuda: str = MIN_CUDA

    @property
    def vram_need_gb(self) -> float:
        return max(MEDIA_VRAM_GB[self.media_type], self.model_vram_gb, self.analyses_vram_gb)

    @property
    def work_units(self) -> float:
        return work_units(self.media_type, self.duration_s)


def work_units(media_type: MediaType, duration_s: float | None) -> float:
    """What runtimes scale with: media seconds for video and audio, one per image."""
    if media_type == MediaType.IMAGE:
        return 1.0
    return max(duration_s or 0.0, 1.0)


def local_cost_per_hour(watts: float, price_per_kwh: float, purchase_price: float,
                        lifetime_hours: float) -> float:
    """What an hour of a local GPU's work costs: energy plus depreciation."""
    energy = watts / 1000 * price_per_kwh
    depreciation = purchase_price / lifetime_hours if lifetime_hours > 0 else 0.0
    return energy + depreciation


@dataclass(frozen=True)
class LocalGpu:
    gpu_id: int
    model: str
    vram_gb: float
    cuda_version: str
    host: str = ""
    status: GpuStatus = GpuStatus.AVAILABLE
    # Empty: everyone may use it; otherwise only jobs of these groups.
    access_groups: frozenset[str] = frozenset()
    schedule: Schedule = ALWAYS
    cost_per_hour: float = 0.0
    # Estimated seconds of work already queued for or running on this GPU.
    backlog_s: float = 0.0
    # Seconds per work unit per analysis, from this GPU's own benchmark.
    profile: Mapping[str, float] = field(default_factory=dict)
    simulated: bool = False


@dataclass(frozen=True)
class Offer:
    provider: str
    instance_type: str
    gpu_model: str
    vram_gb: float
    price_per_hour: float
    gpu_count: int = 1
    region: str = ""
    cuda_version: str = "12.4"
    spot_price_per_hour: float | None = None
    # Share of time the host is up, as the provider scores it (Vast.ai).
    reliability: float = 1.0
    # The instance's download bandwidth: how fast media reach it.
    bandwidth_mbps: float = 1000.0
    boot_s: float = 180.0
    priced_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    # Expected spot interruptions per hour; None takes the policy's default.
    interruption_per_hour: float | None = None
    offer_id: str = ""

    @property
    def key(self) -> str:
        return self.offer_id or f"{self.provider}:{self.instance_type}:{self.region}"


@dataclass(frozen=True)
class RuntimeKnowledge:
    """What has been learnt about speed, keyed by (normalised GPU model, analysis):
    seconds per work unit from benchmark profiles and from finished jobs."""

    benchmarks: Mapping[tuple[str, str], float] = field(default_factory=dict)
    observed: Mapping[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetState:
    gpus: tuple[LocalGpu, ...]
    now: datetime
    # Cloud spend so far this calendar month, against the monthly budget.
    month_spend: float = 0.0
    knowledge: RuntimeKnowledge = RuntimeKnowledge()


@dataclass(frozen=True)
class Policy:
    strategy: Strategy = Strategy.BALANCED
    # For provider_priority: providers in order of preference; "local" is the fleet.
    provider_order: tuple[str, ...] = ()
    # None: every provider that has offers; otherwise only these.
    enabled_providers: frozenset[str] | None = None
    # Seed 003 §1.3: local wins unless the cloud is more than this much cheaper.
    local_tolerance: float = 0.10
    # Seed 003 §1.3: media over this size whose upload takes longer than
    # large_media_upload_s stay local unless the cloud is large_media_cloud_advantage cheaper.
    large_media_gb: float = 10.0
    large_media_upload_s: float = 1800.0
    large_media_cloud_advantage: float = 0.20
    # Seed 003 §1.2: an urgent job goes to the cloud when the local wait is longer.
    urgent_local_wait_s: float = 3600.0
    # No job is queued locally for longer than this; it goes elsewhere or is refused.
    # A confidential job queues all the same while a suitable local GPU exists.
    max_local_wait_s: float = 86400.0
    spot_urgencies: frozenset[Urgency] = frozenset({Urgency.LOW, Urgency.NORMAL})
    spot_interruption_per_hour: float = 0.05
    # The control plane's upload bandwidth towards cloud instances.
    upload_mbps: float = 100.0
    min_reliability: float = 0.90
    max_price_age_s: float = 6 * 3600.0
    max_hourly_price: float | None = None
    max_job_cost: float | None = None
    monthly_budget: float | None = None
    alternatives: int = 3
    # Of every price, cost and cap; for the words only, nothing is converted.
    currency: str = "USD"
