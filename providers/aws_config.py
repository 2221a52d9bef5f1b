"""The ``aws`` provider's settings (``AIMA_AWS_<KEY>``, see ``providers.aws``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.settings_schema import IMAGE, Setting, SettingsError, parse

NAME = "aws"
DEFAULT_TYPES = ("g4dn.*", "g5.*", "g6.*", "g6e.*", "p4d.*", "p5.*")

# Credentials are not settings: they come from the standard AWS chain.
SETTINGS: tuple[Setting, ...] = (
    Setting("region", str, "us-east-1",
            help="the home region: health checks, launches of offers without one"),
    Setting("regions", str, "", help="comma list of regions to search (default: the home one)"),
    Setting("ami", str, "", help="the agent AMI: NVIDIA driver, CUDA and the agent"),
    Setting("subnet_id", str, "", help="comma list of subnets; offers only in their zones"),
    Setting("security_group_ids", str, "", help="comma list; must exist in every region"),
    Setting("key_name", str, "", help="EC2 key pair for SSH"),
    Setting("instance_profile", str, "", help="IAM instance profile, a name or an ARN"),
    Setting("instance_types", str, ",".join(DEFAULT_TYPES), help="type patterns to offer"),
    Setting("architecture", str, "x86_64", help="the AMI's architecture"),
    Setting("pricing", str, "table", choices=("table", "api"),
            help="on-demand prices: the dated table, or the Price List API"),
    Setting("cuda_version", str, "12.4", help="the CUDA version the AMI provides"),
    Setting("boot_s", float, 120.0, help="seconds from launch to a working agent"),
    Setting("profile", str, "", help="an AWS profile name in ~/.aws/config"),
    Setting("endpoint_url", str, "", help="another endpoint, e.g. LocalStack"),
    Setting("max_attempts", int, 3, help="botocore's attempts per call"),
    IMAGE,
)


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
        values = parse(NAME, SETTINGS, settings)
        text = {key: value.strip() for key, value in values.items() if isinstance(value, str)}
        try:
            cuda_tuple(text["cuda_version"])
        except ValueError:
            raise SettingsError(f"AIMA_AWS_CUDA_VERSION must be a version like 12.4, not "
                                f"{text['cuda_version']!r}") from None
        return cls(
            region=text["region"],
            regions=words(text["regions"]) or (text["region"],),
            ami=text["ami"],
            subnet_ids=words(text["subnet_id"]),
            security_group_ids=words(text["security_group_ids"]),
            key_name=text["key_name"],
            instance_profile=text["instance_profile"],
            instance_types=words(text["instance_types"]) or DEFAULT_TYPES,
            architecture=text["architecture"],
            pricing=values["pricing"],
            cuda_version=text["cuda_version"],
            boot_s=values["boot_s"],
            profile=text["profile"],
            endpoint_url=text["endpoint_url"],
            max_attempts=max(1, values["max_attempts"]),
        )


def words(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))
