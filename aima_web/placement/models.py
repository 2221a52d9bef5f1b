"""What placement reckons with besides the job and the fleet: the
administrator's policy, and the cloud prices (a stored snapshot until the
provider plugins price offers live)."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from aima_tasks.kernel.classification import Urgency
from aima_tasks.kernel.placement import Offer, Policy, Strategy
from aima_web.core.choices import choices

DEFAULTS = Policy()
OFFER_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Offer)}
SINGLETON_ID = 1

# Policy fields stored as plain numbers, each with what to write when it is out of range.
SHARE = "write a share between 0 and 1, e.g. 0.1 for 10 %"
SECONDS = "write a number of seconds, 0 or more (3600 is an hour)"
FLOAT_RULES: dict[str, tuple[float, float, str]] = {
    "local_tolerance": (0, 1, SHARE),
    "large_media_gb": (0, math.inf, "write a size in GB, 0 or more"),
    "large_media_upload_s": (0, math.inf, SECONDS),
    "large_media_cloud_advantage": (0, 1, SHARE),
    "urgent_local_wait_s": (0, math.inf, SECONDS),
    "max_local_wait_s": (0, math.inf, SECONDS),
    "spot_interruption_per_hour": (0, math.inf,
                                   "write expected interruptions per hour, 0 or more, e.g. 0.05"),
    "upload_mbps": (1e-6, math.inf, "write the upload bandwidth in Mbit/s, more than 0"),
    "min_reliability": (0, 1, SHARE),
    "max_price_age_s": (0, math.inf, SECONDS),
}
MONEY_CAPS = ("max_hourly_price", "max_job_cost", "monthly_budget")


def default_provider_order() -> list[str]:
    return list(DEFAULTS.provider_order)


def default_enabled_providers() -> list[str]:
    return sorted(DEFAULTS.enabled_providers or ())


def default_spot_urgencies() -> list[str]:
    return [u.value for u in Urgency if u in DEFAULTS.spot_urgencies]


def _money(help_text: str) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True,
                               help_text=help_text)


class PlacementPolicy(models.Model):
    """The administrator's placement rules: one row, edited in the admin and
    audited; ``to_policy()`` hands it to the engine. Field meanings and
    defaults are the engine's (``aima_tasks.kernel.placement.Policy``)."""

    strategy = models.CharField(
        max_length=20, choices=choices(Strategy), default=DEFAULTS.strategy.value,
        help_text="balanced: seed rules (confidential local, urgency, large media, the local "
                  "tolerance); cost first: the cheapest; local first: local GPUs whenever one "
                  "can take the job; provider priority: the provider order below.")
    provider_order = models.JSONField(
        default=default_provider_order, blank=True,
        help_text='Providers by preference for the provider priority strategy, "local" being '
                  'the local fleet, e.g. ["local", "vastai", "runpod"].')
    enabled_providers = models.JSONField(
        default=default_enabled_providers, blank=True,
        help_text='Cloud providers placement may use, e.g. ["vastai", "runpod"]; empty: every '
                  'provider with offers; ["local"] alone: no cloud at all.')
    local_tolerance = models.FloatField(
        default=DEFAULTS.local_tolerance,
        help_text="Local GPUs win unless the cloud is more than this share cheaper (0.1 = 10 %).")
    large_media_gb = models.FloatField(
        default=DEFAULTS.large_media_gb, verbose_name="large media (GB)",
        help_text="Media over this size whose upload is slow stay local …")
    large_media_upload_s = models.FloatField(
        default=DEFAULTS.large_media_upload_s, verbose_name="large media upload (s)",
        help_text="… when their upload would take longer than this …")
    large_media_cloud_advantage = models.FloatField(
        default=DEFAULTS.large_media_cloud_advantage,
        help_text="… unless the cloud is more than this share cheaper.")
    urgent_local_wait_s = models.FloatField(
        default=DEFAULTS.urgent_local_wait_s, verbose_name="urgent local wait (s)",
        help_text="An urgent job goes to the cloud when it would wait longer than this locally.")
    max_local_wait_s = models.FloatField(
        default=DEFAULTS.max_local_wait_s, verbose_name="max local wait (s)",
        help_text="No job waits longer than this for a local GPU; it goes elsewhere or fails. "
                  "A confidential job waits for a suitable local GPU all the same.")
    spot_urgencies = models.JSONField(
        default=default_spot_urgencies, blank=True,
        help_text="Urgencies that may run on interruptible (spot) instances.")
    spot_interruption_per_hour = models.FloatField(
        default=DEFAULTS.spot_interruption_per_hour,
        help_text="Expected spot interruptions per hour where the provider gives no figure.")
    upload_mbps = models.FloatField(
        default=DEFAULTS.upload_mbps, verbose_name="upload (Mbit/s)",
        help_text="The control plane's upload bandwidth towards cloud instances.")
    min_reliability = models.FloatField(
        default=DEFAULTS.min_reliability,
        help_text="Offers whose hosts are up less than this share of the time are not used.")
    max_price_age_s = models.FloatField(
        default=DEFAULTS.max_price_age_s, verbose_name="max price age (s)",
        help_text="Offers priced longer ago than this are not used.")
    max_hourly_price = _money("No instance dearer than this per hour; empty: no cap.")
    max_job_cost = _money("No cloud run expected to cost more than this; empty: no cap.")
    monthly_budget = _money("Cloud spend per calendar month; empty: no budget.")
    alternatives = models.PositiveSmallIntegerField(
        default=DEFAULTS.alternatives,
        help_text="How many losing options each decision lists, with why they lost.")
    energy_price_per_kwh = models.DecimalField(
        max_digits=8, decimal_places=4, default=Decimal("0.30"),
        validators=[MinValueValidator(0)], verbose_name="energy price per kWh",
        help_text="What local GPUs' electricity costs; with their power draw and depreciation "
                  "it makes their cost per hour.")
    currency = models.CharField(
        max_length=3, default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "write a three-letter code such as USD")],
        help_text="The currency of every price and cap (display only; nothing is converted).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "placement policy"
        verbose_name_plural = "placement policy"
        constraints = [models.CheckConstraint(condition=models.Q(id=SINGLETON_ID),
                                              name="one_placement_policy")]

    def __str__(self) -> str:
        return f"placement policy ({self.strategy})"

    @classmethod
    def current(cls) -> PlacementPolicy:
        policy, _ = cls.objects.get_or_create(pk=SINGLETON_ID)
        return policy

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = SINGLETON_ID
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name, (low, high, advice) in FLOAT_RULES.items():
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                errors[name] = f"{value:g} is out of range; {advice}"
        for name in MONEY_CAPS:
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = f"{value} is negative; write 0 or more, or leave it empty"
        for name in ("provider_order", "enabled_providers"):
            value = getattr(self, name)
            if not _names(value):
                errors[name] = 'write a list of provider names, e.g. ["local", "vastai"]'
        urgencies = self.spot_urgencies
        known = [u.value for u in Urgency]
        if not _names(urgencies) or not set(urgencies) <= set(known):
            errors["spot_urgencies"] = (f"write a list of urgencies from {', '.join(known)}, "
                                        'e.g. ["low", "normal"]')
        if (self.strategy == Strategy.PROVIDER_PRIORITY and "provider_order" not in errors
                and not self.provider_order):
            errors["provider_order"] = ('the provider priority strategy needs a provider '
                                        'order, e.g. ["local", "vastai", "runpod"]')
        if errors:
            raise ValidationError(errors)

    def to_policy(self) -> Policy:
        return Policy(
            strategy=Strategy(self.strategy),
            provider_order=tuple(self.provider_order),
            enabled_providers=frozenset(self.enabled_providers) or None,
            spot_urgencies=frozenset(Urgency(u) for u in self.spot_urgencies),
            alternatives=self.alternatives,
            currency=self.currency,
            **{name: float(getattr(self, name)) for name in FLOAT_RULES},
            **{name: _float_or_none(getattr(self, name)) for name in MONEY_CAPS},
        )


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _float_or_none(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class CloudOffer(models.Model):
    """One cloud offer as last priced: what placement places against until the
    provider plugins refresh prices live (``manage.py aima_offers load``)."""

    # Offer.key: the provider's offer id, or provider:instance type:region.
    key = models.CharField(max_length=255, unique=True, editable=False)
    provider = models.CharField(max_length=60, db_index=True)
    instance_type = models.CharField(max_length=120)
    gpu_model = models.CharField(max_length=100)
    gpu_count = models.PositiveSmallIntegerField(default=OFFER_DEFAULTS["gpu_count"])
    vram_gb = models.FloatField(verbose_name="VRAM per GPU (GB)")
    cuda_version = models.CharField(max_length=8, default=OFFER_DEFAULTS["cuda_version"])
    region = models.CharField(max_length=60, blank=True)
    # Floats, as the engine reckons: these are quotes to compare, not money booked.
    price_per_hour = models.FloatField()
    spot_price_per_hour = models.FloatField(null=True, blank=True)
    reliability = models.FloatField(default=OFFER_DEFAULTS["reliability"])
    bandwidth_mbps = models.FloatField(default=OFFER_DEFAULTS["bandwidth_mbps"])
    boot_s = models.FloatField(default=OFFER_DEFAULTS["boot_s"])
    interruption_per_hour = models.FloatField(null=True, blank=True)
    offer_id = models.CharField(max_length=120, blank=True)
    priced_at = models.DateTimeField(db_index=True)
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "price_per_hour", "key"]
        verbose_name = "cloud offer"

    def __str__(self) -> str:
        return f"{self.provider} {self.instance_type} in {self.region or 'any region'}"

    @classmethod
    def from_offer(cls, offer: Offer) -> CloudOffer:
        return cls(key=offer.key, provider=offer.provider, instance_type=offer.instance_type,
                   gpu_model=offer.gpu_model, gpu_count=offer.gpu_count, vram_gb=offer.vram_gb,
                   cuda_version=offer.cuda_version, region=offer.region,
                   price_per_hour=offer.price_per_hour,
                   spot_price_per_hour=offer.spot_price_per_hour,
                   reliability=offer.reliability, bandwidth_mbps=offer.bandwidth_mbps,
                   boot_s=offer.boot_s, interruption_per_hour=offer.interruption_per_hour,
                   offer_id=offer.offer_id, priced_at=offer.priced_at)

    def to_offer(self) -> Offer:
        return Offer(provider=self.provider, instance_type=self.instance_type,
                     gpu_model=self.gpu_model, vram_gb=self.vram_gb,
                     price_per_hour=self.price_per_hour, gpu_count=self.gpu_count,
                     region=self.region, cuda_version=self.cuda_version,
                     spot_price_per_hour=self.spot_price_per_hour,
                     reliability=self.reliability, bandwidth_mbps=self.bandwidth_mbps,
                     boot_s=self.boot_s, priced_at=self.priced_at,
                     interruption_per_hour=self.interruption_per_hour, offer_id=self.offer_id)


class OfferPrice(models.Model):
    """One offer's prices as one refresh (or snapshot load) found them: the
    price history, for forecasting and the dashboard. One row per offer and
    pricing, kept for ``AIMA_PRICE_HISTORY_DAYS``. The offer key, not a foreign
    key: a refresh replaces the offer rows, the history stays."""

    key = models.CharField(max_length=255)
    provider = models.CharField(max_length=60)
    gpu_model = models.CharField(max_length=100)
    region = models.CharField(max_length=60, blank=True)
    price_per_hour = models.FloatField()
    spot_price_per_hour = models.FloatField(null=True, blank=True)
    priced_at = models.DateTimeField()

    class Meta:
        ordering = ["key", "-priced_at"]
        verbose_name = "offer price"
        indexes = [
            models.Index(fields=["key", "-priced_at"], name="offerprice_key_time"),
            models.Index(fields=["provider", "gpu_model", "-priced_at"],
                         name="offerprice_model_time"),
            # Pruning by age.
            models.Index(fields=["priced_at"], name="offerprice_time"),
        ]
        constraints = [models.UniqueConstraint(fields=["key", "priced_at"],
                                               name="one_price_per_offer_and_time")]

    def __str__(self) -> str:
        return f"{self.key} at {self.priced_at:%Y-%m-%d %H:%M}"

    @classmethod
    def from_offer(cls, offer: Offer) -> OfferPrice:
        return cls(key=offer.key, provider=offer.provider, gpu_model=offer.gpu_model,
                   region=offer.region, price_per_hour=offer.price_per_hour,
                   spot_price_per_hour=offer.spot_price_per_hour, priced_at=offer.priced_at)


class ProviderRefresh(models.Model):
    """How each cloud provider's price refresh went: while its last one failed,
    its stored offers are its last good prices (placement says so), until they
    pass the policy's max price age."""

    provider = models.CharField(max_length=60, unique=True)
    last_attempt_at = models.DateTimeField()
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Set by the first failure after a success, cleared by the next success.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Failed refreshes since the last success.
    failures = models.PositiveIntegerField(default=0)
    # Offers the last successful refresh stored.
    offer_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["provider"]
        verbose_name = "provider price refresh"

    def __str__(self) -> str:
        return f"{self.provider}: {self.status()}"

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def status(self) -> str:
        """The refresh in words, e.g. for the admin."""
        if not self.failing:
            return f"{self.offer_count} offer(s), refreshed {_when(self.last_success_at)}"
        good = (f"last good prices from {_when(self.last_success_at)}"
                if self.last_success_at else "no refresh has succeeded yet")
        return (f"{good} (refresh failing since {_when(self.failing_since)}, "
                f"{self.failures} time(s): {self.last_error})")


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
