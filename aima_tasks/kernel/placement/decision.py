"""What the placement engine answers: the choice, why, and what lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum


class Code(StrEnum):
    """Reason codes: why a job went where it went, or why an option lost."""

    # Why the choice won.
    CONFIDENTIAL_LOCAL_ONLY = "confidential_local_only"
    # A confidential job waits for a local GPU longer than the policy's
    # maximum local wait: it queues instead of being refused.
    CONFIDENTIAL_QUEUED = "confidential_queued"
    # Nothing in service can take it, but a GPU whose agent is silent can: it
    # waits in that GPU's queue (placement/offline.py).
    GPU_OFFLINE_QUEUED = "gpu_offline_queued"
    NO_LOCAL_FIT = "no_local_fit"
    NO_CLOUD_FIT = "no_cloud_fit"
    URGENT_LOCAL_WAIT = "urgent_local_wait"
    LARGE_MEDIA_LOCAL = "large_media_local"
    LOCAL_WITHIN_TOLERANCE = "local_within_tolerance"
    CLOUD_CHEAPER = "cloud_cheaper"
    PUBLIC_CLOUD_PREFERRED = "public_cloud_preferred"
    LOCAL_CHEAPER = "local_cheaper"
    CHEAPEST = "cheapest"
    LOCAL_FIRST = "local_first"
    PROVIDER_PRIORITY = "provider_priority"
    SPOT = "spot"
    SPOT_NOT_FOR_URGENCY = "spot_not_for_urgency"
    UNKNOWN_GPU_MODEL = "unknown_gpu_model"
    # Runs without the analyses no GPU the job may use can hold (``Decision.skipped``).
    PARTIAL = "partial"
    # Held until off-peak hours when it runs cheaper there, never past its deadline
    # (aima_web/jobs/deferral.py); a job placed after such a hold keeps it in its reasons.
    DEFERRED_OFF_PEAK = "deferred_off_peak"
    # The choice or an option weighed is priced from its provider's last good
    # prices, as the provider's last refresh failed (``Decision.last_good_prices``).
    LAST_GOOD_PRICES = "last_good_prices"
    # Why nothing was chosen.
    TOO_LARGE = "too_large"
    CONFIDENTIAL_NO_LOCAL = "confidential_no_local"
    NO_FIT = "no_fit"
    # Why an option was excluded or lost.
    VRAM_TOO_SMALL = "vram_too_small"
    CUDA_TOO_OLD = "cuda_too_old"
    GPU_UNAVAILABLE = "gpu_unavailable"
    ACCESS_DENIED = "access_denied"
    LOCAL_WAIT_TOO_LONG = "local_wait_too_long"
    PROVIDER_DISABLED = "provider_disabled"
    REGION = "region"
    STALE_PRICE = "stale_price"
    LOW_RELIABILITY = "low_reliability"
    OVER_HOURLY_CAP = "over_hourly_cap"
    OVER_JOB_COST_CAP = "over_job_cost_cap"
    OVER_MONTHLY_BUDGET = "over_monthly_budget"
    MORE_EXPENSIVE = "more_expensive"
    FINISHES_LATER = "finishes_later"
    LOWER_PROVIDER_RANK = "lower_provider_rank"
    NOT_LOCAL = "not_local"
    LOST_TO_RULE = "lost_to_rule"


@dataclass(frozen=True)
class Option:
    """One way to run the job, with its estimates."""

    scope: str
    provider: str
    gpu_model: str
    spot: bool
    price_per_hour: float
    # Seconds from now until the job starts: queue and schedule locally,
    # boot and upload in the cloud.
    wait_s: float
    runtime_s: float
    # Expected cost, spot interruption risk included.
    cost: float
    runtime_source: str
    gpu_id: int | None = None
    host: str = ""
    offer_id: str = ""
    instance_type: str = ""
    region: str = ""
    vram_gb: float = 0.0
    upload_s: float = 0.0
    interruption_risk: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.wait_s + self.runtime_s

    @property
    def label(self) -> str:
        if self.scope == "local":
            return f"local GPU #{self.gpu_id} ({self.gpu_model} @ {self.host})"
        mode = "spot" if self.spot else "on-demand"
        return f"{self.provider} {self.instance_type} {mode} in {self.region or 'any region'}"

    def to_dict(self) -> dict:
        return {**asdict(self), "duration_s": self.duration_s, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict) -> Option:
        """The inverse of ``to_dict``: its derived keys (duration, label) and
        any unknown ones are left out; fields a stored record lacks keep their
        defaults."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Alternative:
    option: Option
    lost: Code
    why: str

    def to_dict(self) -> dict:
        return {**self.option.to_dict(), "lost": self.lost.value, "why": self.why}

    @classmethod
    def from_dict(cls, data: dict) -> Alternative:
        return cls(option=Option.from_dict(data), lost=Code(data["lost"]), why=data["why"])


@dataclass(frozen=True)
class Skipped:
    """An analysis a partial job runs without, and why."""

    analysis: str
    why: str

    def to_dict(self) -> dict:
        return {"analysis": self.analysis, "why": self.why}


@dataclass(frozen=True)
class PriceOutage:
    """A provider whose last price refresh failed: its stored offers are its
    last good prices, used until they pass the policy's max price age. Times
    are ISO 8601 text, as the record is stored as JSON."""

    provider: str
    # When the prices in use were priced.
    priced_at: str
    # When its refreshes began to fail, and the last one's error.
    failing_since: str
    error: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    placed: bool
    code: Code
    reason: str
    strategy: str
    vram_need_gb: float
    min_cuda: str
    gpu_class: int | None = None
    scope: str | None = None
    queue: str | None = None
    choice: Option | None = None
    reasons: tuple[Code, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    # How many options each rule excluded, by reason code.
    excluded: dict[str, int] = field(default_factory=dict)
    # When nothing fits: what a person could do about it.
    suggestions: tuple[str, ...] = ()
    # A partial job: the analyses it runs without (placement.partial).
    skipped: tuple[Skipped, ...] = ()
    # Providers of the choice or of an alternative whose last price refresh
    # failed: those options are priced from the last good prices.
    last_good_prices: tuple[PriceOutage, ...] = ()

    def to_dict(self) -> dict:
        return {
            "placed": self.placed,
            "code": self.code.value,
            "reason": self.reason,
            "strategy": self.strategy,
            "vram_need_gb": self.vram_need_gb,
            "min_cuda": self.min_cuda,
            "gpu_class": self.gpu_class,
            "scope": self.scope,
            "queue": self.queue,
            "choice": self.choice.to_dict() if self.choice else None,
            "reasons": [code.value for code in self.reasons],
            "alternatives": [alt.to_dict() for alt in self.alternatives],
            "excluded": dict(self.excluded),
            "suggestions": list(self.suggestions),
            "skipped": [skip.to_dict() for skip in self.skipped],
            "last_good_prices": [outage.to_dict() for outage in self.last_good_prices],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Decision:
        """The inverse of ``to_dict``: a decision as a job stores it."""
        choice = data.get("choice")
        return cls(
            placed=data["placed"], code=Code(data["code"]), reason=data["reason"],
            strategy=data["strategy"], vram_need_gb=data["vram_need_gb"],
            min_cuda=data["min_cuda"], gpu_class=data.get("gpu_class"),
            scope=data.get("scope"), queue=data.get("queue"),
            choice=Option.from_dict(choice) if choice else None,
            reasons=tuple(Code(code) for code in data.get("reasons", ())),
            alternatives=tuple(Alternative.from_dict(alt)
                               for alt in data.get("alternatives", ())),
            excluded=dict(data.get("excluded", {})),
            suggestions=tuple(data.get("suggestions", ())),
            skipped=tuple(Skipped(**skip) for skip in data.get("skipped", ())),
            last_good_prices=tuple(PriceOutage(**outage)
                                   for outage in data.get("last_good_prices", ())))


def with_last_good_prices(decision: Decision,
                          outages: Mapping[str, PriceOutage]) -> Decision:
    """``decision``, saying so where its choice or an alternative it weighed
    comes from a provider in ``outages`` (by name): the engine decides from
    the prices it is given, and only the caller knows which are a failing
    provider's last good ones. Stale ones never get here: the engine has
    already excluded them (``Code.STALE_PRICE``)."""
    weighed = [alt.option for alt in decision.alternatives]
    if decision.choice is not None:
        weighed.insert(0, decision.choice)
    names = dict.fromkeys(o.provider for o in weighed if o.provider in outages)
    if not names:
        return decision
    reason = decision.reason
    chosen = outages.get(decision.choice.provider) if decision.choice is not None else None
    if chosen is not None:
        reason += (f" Prices of {chosen.provider} are its last good ones, from "
                   f"{chosen.priced_at}: its price refresh fails since "
                   f"{chosen.failing_since} ({chosen.error}).")
    return replace(decision, reason=reason,
                   reasons=tuple(dict.fromkeys((*decision.reasons, Code.LAST_GOOD_PRICES))),
                   last_good_prices=tuple(outages[name] for name in names))
