"""The ``aws`` provider's settings (``AIMA_AWS_<KEY>``, see ``providers.aws``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.errors import ProviderError

NAME = "aws"
DEFAULT_TYPES = ("g4dn.*", "g5.*", "g6.*", "g6e.*", "p4d.*", "p5.*")


@dataclass(frozen=True)
class Config:
    region: str
    regions: tuple[str, ...]
    ami: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    key_name: str
    instance_profile: str
    instance_types: tuple[str, ...]
    architecture: str
    pricing: str
    cuda_version: str
    boot_s: float
    profile: str
    endpoint_url: str
    max_attempts: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        region = settings.get("region", "").strip() or "us-east-1"
        pricing = settings.get("pricing", "table").strip().lower() or "table"
        if pricing not in ("table", "api"):
            raise ProviderError(f"AIMA_AWS_PRICING must be 'table' or 'api', not {pricing!r}")
        cuda_version = settings.get("cuda_version", "12.4").strip() or "12.4"
        try:
            cuda_tuple(cuda_version)
            boot_s = float(settings.get("boot_s", "120"))
            max_attempts = int(settings.get("max_attempts", "3"))
        except ValueError as exc:
            raise ProviderError(f"aws settings: {exc}") from None
        return cls(
            region=region,
            regions=words(settings.get("regions", "")) or (region,),
            ami=settings.get("ami", "").strip(),
            subnet_ids=words(settings.get("subnet_id", "")),
            security_group_ids=words(settings.get("security_group_ids", "")),
            key_name=settings.get("key_name", "").strip(),
            instance_profile=settings.get("instance_profile", "").strip(),
            instance_types=words(settings.get("instance_types", "")) or DEFAULT_TYPES,
            architecture=settings.get("architecture", "").strip() or "x86_64",
            pricing=pricing,
            cuda_version=cuda_version,
            boot_s=boot_s,
            profile=settings.get("profile", "").strip(),
            endpoint_url=settings.get("endpoint_url", "").strip(),
            max_attempts=max(1, max_attempts),
        )


def words(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))
