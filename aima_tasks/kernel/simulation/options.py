"""What a replay may do beyond today's behaviour (seed 003 §6.2, 004 §8.2):
pause idle cloud instances, keep capacity warm ahead of forecast demand, and
defer low-urgency jobs to off-peak hours. Each is an option of the replay, so
one trace shows each effect apart and all together next to today's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aima_tasks.kernel.offpeak import DeferralPolicy

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class PauseTerms:
    """How a provider's stopped instance is billed and comes back."""

    storage_price_gb_month: float = 0.10
    resume_s: float = 60.0
    disk_gb: float = 50.0

    @property
    def paused_price_per_hour(self) -> float:
        return self.disk_gb * self.storage_price_gb_month / HOURS_PER_MONTH


# Providers whose on-demand instances stop with their disk kept, at list prices
# for the disk (USD per GB and month): EBS gp3, GCP balanced PD, Azure standard
# SSD, RunPod's stopped-pod volume, Vast.ai's typical host storage rate. Lambda
# has no stop: its instances are ended. Spot instances are never paused.
DEFAULT_PAUSE: Mapping[str, PauseTerms] = {
    "aws": PauseTerms(storage_price_gb_month=0.08),
    "gcp": PauseTerms(storage_price_gb_month=0.10),
    "azure": PauseTerms(storage_price_gb_month=0.15),
    "runpod": PauseTerms(storage_price_gb_month=0.20, resume_s=45.0),
    "vastai": PauseTerms(storage_price_gb_month=0.15, resume_s=45.0),
}


@dataclass(frozen=True)
class PauseOption:
    terms: Mapping[str, PauseTerms] = field(default_factory=lambda: dict(DEFAULT_PAUSE))
    # A paused instance is ended after this long (idle_policy's pause grace).
    pause_grace_s: float = 4 * 3600.0
    # The span the forecast's expected jobs are counted over.
    horizon_s: float = 3600.0


@dataclass(frozen=True)
class WarmOption:
    """Keep an idle instance, or launch one, ahead of forecast demand when the
    waiting it saves is worth more than the idle time it bills."""

    # What an hour of a job's waiting is worth (USD): the trade-off's exchange rate.
    value_per_wait_hour: float = 2.0
    # Each keep-or-launch decision looks this far ahead.
    step_s: float = 900.0


@dataclass(frozen=True)
class ReplayOptions:
    pause: PauseOption | None = None
    warm: WarmOption | None = None
    offpeak: DeferralPolicy | None = None
    # Weeks of the trace's past the forecast learns from.
    forecast_weeks: int = 4

    @property
    def forecasting(self) -> bool:
        return self.pause is not None or self.warm is not None


TODAY = ReplayOptions()
# The what-if variants, by the name the report gives them, in its order.
VARIANTS: Mapping[str, ReplayOptions] = {
    "today": TODAY,
    "+pause": ReplayOptions(pause=PauseOption()),
    "+warm": ReplayOptions(warm=WarmOption()),
    "+offpeak": ReplayOptions(offpeak=DeferralPolicy()),
    "+all": ReplayOptions(pause=PauseOption(), warm=WarmOption(), offpeak=DeferralPolicy()),
}
