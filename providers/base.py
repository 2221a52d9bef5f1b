"""The provider interface and the plain data that crosses it.

A provider is a small module over one vendor's SDK. It speaks these records
and raises the errors of ``providers.errors`` (named here too, for callers);
everything vendor-specific stays inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from aima_tasks.kernel.placement import Offer
from providers.errors import (
    AuthError,
    CapacityError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
    QuotaError,
    TransientError,
)

__all__ = [
    "HOURS_PER_MONTH",
    "AuthError",
    "CapacityError",
    "Health",
    "Instance",
    "InstanceState",
    "LaunchSpec",
    "MultiGpu",
    "NotFoundError",
    "NotSupportedError",
    "Offer",
    "Pausable",
    "Provider",
    "ProviderBase",
    "ProviderError",
    "QuotaError",
    "Regional",
    "Requirements",
    "SpotMarket",
    "TransientError",
]

# The tag every instance of this deployment carries, so that the reconciler
# can find all of them, and only them, at every provider.
DEPLOYMENT_TAG = "aima-deployment"
# The tag that names the database row an instance was launched for, so that an
# instance whose launch was cut short can still be matched to it.
INSTANCE_TAG = "aima-instance"


@dataclass(frozen=True)
class Requirements:
    min_vram_gb: float = 0.0
    min_cuda: str = "11.8"
    gpu_count: int = 1
    spot: bool | None = None  # None: on-demand and spot offers alike
    max_price_per_hour: float | None = None
    min_reliability: float = 0.0
    # Region prefixes an offer may be in (e.g. "EU"); empty: anywhere.
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LaunchSpec:
    """What to start on a new instance: the agent image and how to run it."""

    name: str
    image: str
    env: Mapping[str, str]
    # Shell command the instance runs at boot (Vast.ai onstart, RunPod docker
    # args, the subprocess provider's command line).
    command: str
    # cloud-init user data, for providers that boot a VM (AWS).
    user_data: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    spot: bool = False
    # Highest spot/interruptible price to bid per hour; None: the offer's price.
    bid_per_hour: float | None = None
    disk_gb: int = 40


class InstanceState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Instance:
    provider: str
    instance_id: str
    state: InstanceState
    offer_id: str = ""
    gpu_model: str = ""
    price_per_hour: float = 0.0
    spot: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    launched_at: datetime | None = None
    address: str = ""


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


@runtime_checkable
class Provider(Protocol):
    name: str
    supports_pause: bool

    def offers(self, requirements: Requirements) -> list[Offer]:
        """Live offers that meet the requirements, priced now."""
        ...

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance: ...

    def describe(self, instance_id: str) -> Instance:
        """Raises NotFoundError for an instance the provider no longer knows."""
        ...

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        """Every instance carrying all of ``tags`` (this deployment's tag)."""
        ...

    def terminate(self, instance_id: str) -> None:
        """Idempotent: terminating a gone instance is not an error."""
        ...

    def pause(self, instance_id: str) -> None: ...

    def resume(self, instance_id: str) -> None: ...

    def health(self) -> Health: ...


# ---------------------------------------------------------------- the base and its capabilities

HOURS_PER_MONTH = 730.0


class ProviderBase:
    """What every provider shares, with defaults: a provider subclasses it and
    the capability mixins it has (``Pausable``, ``SpotMarket``, ``Regional``,
    ``MultiGpu``), and implements offers, launch, describe, list_instances and
    terminate. Callers read capabilities (``supports_pause``), never a name."""

    name: str = ""

    @property
    def supports_pause(self) -> bool:
        # From the capability, whichever side of the mixins the base is listed
        # on: a plain ``supports_pause = False`` here would shadow Pausable's
        # True in ``class X(ProviderBase, Pausable)``.
        return isinstance(self, Pausable)

    def pause(self, instance_id: str) -> None:
        raise NotSupportedError(f"{self.name} cannot pause instances")

    def resume(self, instance_id: str) -> None:
        raise NotSupportedError(f"{self.name} cannot resume instances")

    def health(self) -> Health:
        return Health(ok=True, message=f"{self.name}: no health check of its own")


class Pausable:
    """Stops an instance and starts it again with its disk kept: a paused
    instance bills only its storage, and resumes faster than a fresh launch."""

    supports_pause = True
    # What a paused instance's disk costs per GB and month at this provider.
    storage_price_gb_month: float = 0.10
    # Expected seconds from resume to a running agent (no image pull, no setup).
    resume_s: float = 60.0

    def paused_price_per_hour(self, disk_gb: float) -> float:
        return disk_gb * self.storage_price_gb_month / HOURS_PER_MONTH


class SpotMarket:
    """Offers interruptible capacity (spot, bid, preemptible) beside on-demand."""

    supports_spot = True


class Regional:
    """Its offers live in named regions the requirements can select."""

    supports_regions = True


class MultiGpu:
    """Offers machines with more than one GPU."""

    supports_multi_gpu = True
