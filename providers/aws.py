"""The ``aws`` provider: NVIDIA GPU instances on Amazon EC2, on demand or spot,
through boto3.

Settings (``AIMA_AWS_<KEY>``):

| key | default | meaning |
| --- | --- | --- |
| ``region`` | ``us-east-1`` | the home region: health checks, launches of offers without one |
| ``regions`` | the home region | comma list of regions to search for offers |
| ``ami`` | (none; launch refuses) | the agent AMI: NVIDIA driver, CUDA and the agent |
| ``subnet_id`` | (default VPC) | comma list of subnets; offers only in their zones |
| ``security_group_ids`` | (VPC default) | comma list; must exist in every searched region |
| ``key_name`` | (none) | EC2 key pair for SSH |
| ``instance_profile`` | (none) | IAM instance profile, a name or an ARN |
| ``instance_types`` | ``g4dn.*,g5.*,g6.*,g6e.*,p4d.*,p5.*`` | type patterns to offer |
| ``architecture`` | ``x86_64`` | the AMI's architecture; other types are not offered |
| ``pricing`` | ``table`` | on-demand prices: ``table`` (``aws_prices``) or ``api`` (Price List) |
| ``cuda_version`` | ``12.4`` | the CUDA version the AMI provides (EC2 does not say) |
| ``boot_s`` | ``120`` | seconds from launch to a working agent |
| ``profile`` | (default chain) | an AWS profile name in ``~/.aws/config`` |
| ``endpoint_url`` | (AWS) | another endpoint, e.g. LocalStack |
| ``max_attempts`` | ``3`` | botocore's attempts per call (standard retry mode) |

Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role, SSO); this module
never sees them as settings and never logs them.

Offers are one per instance type and availability zone: ``offer_id`` is
``"{instance_type}:{zone}"``, ``region`` the zone's region, ``vram_gb`` per GPU
in GiB as NVML reports it (``agents/nvml.py``), ``price_per_hour`` the
on-demand price, ``spot_price_per_hour`` the zone's current spot price.
``reliability`` is 1.0: EC2 publishes no per-host score, on-demand instances
are not interrupted, and spot interruptions are the policy's
``interruption_per_hour``. ``cuda_version`` and ``boot_s`` come from the
settings because the AMI decides both.

A launch without ``LaunchSpec.user_data`` boots a ``#!/bin/bash`` script
(``boot_script``): with ``LaunchSpec.image`` it writes ``LaunchSpec.env`` to a
root-only file and runs ``LaunchSpec.command`` in that image with Docker (the
AMI brings Docker and the NVIDIA container toolkit); without an image it
exports the env and runs the command on the VM itself.
User data is readable by anyone allowed ``ec2:DescribeInstanceAttribute``, and
so are the secrets in the environment; instances require IMDSv2 so that a
request forged from inside the instance cannot read it either.
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers import aws_prices
from providers.base import (
    AuthError,
    CapacityError,
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    NotSupportedError,
    Offer,
    ProviderError,
    QuotaError,
    Requirements,
    TransientError,
)

NAME = "aws"
DEFAULT_TYPES = ("g4dn.*", "g5.*", "g6.*", "g6e.*", "p4d.*", "p5.*")
# EC2 refuses user data over 16 KB before base64.
USER_DATA_LIMIT = 16 * 1024
# Instance types and zone offerings change with AWS's releases, not by the hour.
CATALOGUE_TTL_S = 3600.0
ON_DEMAND_TTL_S = 24 * 3600.0
# Only for pricing described instances; offers always ask for the current price.
SPOT_TTL_S = 300.0
LIVE_STATES = ("pending", "running", "stopping", "stopped")
STATES = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    # On its way to stopped: no longer working, still the instance's.
    "stopping": InstanceState.STOPPED,
    "stopped": InstanceState.STOPPED,
    # On its way to terminated: billing has ended and it will not come back.
    "shutting-down": InstanceState.TERMINATED,
    "terminated": InstanceState.TERMINATED,
}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Docker's rule for container names; an image reference, which cannot pass for an option.
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
# Where a container launch keeps the agent's environment: /run is a tmpfs, so
# the file is gone at the next boot (Docker keeps its own root-only copy).
ENV_DIR = "/run/aima"

CAPACITY_CODES = frozenset({
    "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientCapacity",
    "InsufficientReservedInstanceCapacity", "InsufficientCapacityOnHost",
    # The spot price rose above the bid: no capacity at this price.
    "SpotMaxPriceTooLow",
    # The type is not (or no longer) offered in the zone: another offer may be.
    "Unsupported",
})
QUOTA_CODES = frozenset({
    "InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded",
    "MaxSpotFleetRequestCountExceeded", "ResourceLimitExceeded", "PendingVerification",
})
AUTH_CODES = frozenset({
    "UnauthorizedOperation", "AuthFailure", "Blocked", "OptInRequired",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
    "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
})
TRANSIENT_CODES = frozenset({
    "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled",
    "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
    "RequestTimeout", "RequestTimeoutException",
    # Pending, stopping: the same call succeeds once the instance gets there.
    "IncorrectInstanceState",
})
NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
NOT_SUPPORTED_CODES = frozenset({"UnsupportedOperation"})
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError,
                     ProfileNotFound)

log = logging.getLogger(__name__)


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
            regions=_words(settings.get("regions", "")) or (region,),
            ami=settings.get("ami", "").strip(),
            subnet_ids=_words(settings.get("subnet_id", "")),
            security_group_ids=_words(settings.get("security_group_ids", "")),
            key_name=settings.get("key_name", "").strip(),
            instance_profile=settings.get("instance_profile", "").strip(),
            instance_types=_words(settings.get("instance_types", "")) or DEFAULT_TYPES,
            architecture=settings.get("architecture", "").strip() or "x86_64",
            pricing=pricing,
            cuda_version=cuda_version,
            boot_s=boot_s,
            profile=settings.get("profile", "").strip(),
            endpoint_url=settings.get("endpoint_url", "").strip(),
            max_attempts=max(1, max_attempts),
        )


@dataclass(frozen=True)
class GpuType:
    name: str
    gpu_model: str
    vram_gb: float
    gpu_count: int
    bandwidth_mbps: float


class AwsProvider:
    name = NAME
    supports_pause = True

    def __init__(self, settings: Mapping[str, str]):
        self.config = Config.from_settings(settings)
        try:
            self._session = boto3.Session(profile_name=self.config.profile or None)
        except ProfileNotFound:
            raise AuthError(f"AWS profile {self.config.profile!r} is not configured "
                            f"(AIMA_AWS_PROFILE)") from None
        self._boto_config = BotoConfig(
            retries={"mode": "standard", "max_attempts": self.config.max_attempts},
            connect_timeout=5, read_timeout=30, user_agent_extra="aima")
        # boto3 sessions are not thread-safe; the clients made from them are.
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._types: dict[str, tuple[float, dict[str, GpuType]]] = {}
        self._zones: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, list[str]]]] = {}
        self._subnets: dict[str, dict[str, str]] = {}
        self._on_demand_cache: dict[tuple[str, str], tuple[float, float | None]] = {}
        self._spot_cache: dict[str, tuple[float, dict[tuple[str, str], float]]] = {}
        self._home: dict[str, str] = {}  # instance id -> region

    def client(self, service: str, region: str) -> Any:
        """The one boto3 client per service and region (tests stub these)."""
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, config=self._boto_config,
                    endpoint_url=self.config.endpoint_url or None)
            return self._clients[key]

    # ------------------------------------------------------------ offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        if cuda_tuple(self.config.cuda_version) < cuda_tuple(requirements.min_cuda):
            return []
        regions = [r for r in self.config.regions if _region_wanted(r, requirements.regions)]
        found: list[Offer] = []
        failures: list[ProviderError] = []
        for region in regions:
            try:
                found.extend(self._region_offers(region, requirements))
            except ProviderError as exc:
                # One region that is not enabled, or down, leaves the others' offers.
                log.warning("aws offers in %s: %s", region, exc)
                failures.append(exc)
        if failures and len(failures) == len(regions):
            raise failures[0]
        return found

    def _region_offers(self, region: str, requirements: Requirements) -> list[Offer]:
        types = [t for t in self._gpu_types(region).values()
                 if t.gpu_count >= requirements.gpu_count
                 and t.vram_gb >= requirements.min_vram_gb]
        if not types:
            return []
        names = sorted(t.name for t in types)
        zones = self._type_zones(region, names)
        subnets = self._subnets_by_zone(region)
        spot = self._spot_prices(region, names, fresh=True)
        now = datetime.now(UTC)
        offers = []
        for gpu_type in types:
            price = self._on_demand(region, gpu_type.name)
            if price is None:
                continue
            for zone in zones.get(gpu_type.name, []):
                if subnets is not None and zone not in subnets:
                    continue
                spot_price = spot.get((gpu_type.name, zone))
                if not _within(requirements, price, spot_price):
                    continue
                offers.append(Offer(
                    provider=NAME, instance_type=gpu_type.name, gpu_model=gpu_type.gpu_model,
                    vram_gb=gpu_type.vram_gb, gpu_count=gpu_type.gpu_count,
                    price_per_hour=price, spot_price_per_hour=spot_price, region=region,
                    cuda_version=self.config.cuda_version, reliability=1.0,
                    bandwidth_mbps=gpu_type.bandwidth_mbps, boot_s=self.config.boot_s,
                    priced_at=now, offer_id=f"{gpu_type.name}:{zone}"))
        return offers

    def _gpu_types(self, region: str) -> dict[str, GpuType]:
        cached = self._types.get(region)
        if cached and time.monotonic() - cached[0] < CATALOGUE_TTL_S:
            return cached[1]
        ec2 = self.client("ec2", region)
        found: dict[str, GpuType] = {}
        with _calling("DescribeInstanceTypes"):
            pages = ec2.get_paginator("describe_instance_types").paginate(
                Filters=[{"Name": "instance-type", "Values": list(self.config.instance_types)}])
            for page in pages:
                for info in page.get("InstanceTypes", []):
                    gpu_type = _gpu_type(info, self.config.architecture)
                    if gpu_type is not None:
                        found[gpu_type.name] = gpu_type
        self._types[region] = (time.monotonic(), found)
        return found

    def _type_zones(self, region: str, names: list[str]) -> dict[str, list[str]]:
        key = (region, tuple(names))
        cached = self._zones.get(key)
        if cached and time.monotonic() - cached[0] < CATALOGUE_TTL_S:
            return cached[1]
        ec2 = self.client("ec2", region)
        zones: dict[str, list[str]] = {}
        with _calling("DescribeInstanceTypeOfferings"):
            pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone",
                Filters=[{"Name": "instance-type", "Values": names}])
            for page in pages:
                for offering in page.get("InstanceTypeOfferings", []):
                    zones.setdefault(offering["InstanceType"], []).append(offering["Location"])
        for listed in zones.values():
            listed.sort()
        self._zones[key] = (time.monotonic(), zones)
        return zones

    def _subnets_by_zone(self, region: str) -> dict[str, str] | None:
        """Zone -> configured subnet there; None where no subnet is configured
        (the default VPC, any zone)."""
        if not self.config.subnet_ids:
            return None
        if region not in self._subnets:
            ec2 = self.client("ec2", region)
            # A filter, not SubnetIds: the other regions' subnets are simply absent.
            with _calling("DescribeSubnets"):
                answer = ec2.describe_subnets(
                    Filters=[{"Name": "subnet-id", "Values": list(self.config.subnet_ids)}])
            self._subnets[region] = {s["AvailabilityZone"]: s["SubnetId"]
                                     for s in answer.get("Subnets", [])}
        return self._subnets[region]

    def _spot_prices(self, region: str, names: list[str],
                     fresh: bool = False) -> dict[tuple[str, str], float]:
        """(instance type, zone) -> the Linux spot price in effect now."""
        cached = self._spot_cache.get(region)
        if (not fresh and cached and time.monotonic() - cached[0] < SPOT_TTL_S
                and all(any(t == name for t, _ in cached[1]) for name in names)):
            return cached[1]
        ec2 = self.client("ec2", region)
        latest: dict[tuple[str, str], tuple[datetime, float]] = {}
        with _calling("DescribeSpotPriceHistory"):
            # A start time of now answers with the price in effect now, one per
            # type and zone, instead of 90 days of changes.
            pages = ec2.get_paginator("describe_spot_price_history").paginate(
                InstanceTypes=names, ProductDescriptions=["Linux/UNIX"],
                StartTime=datetime.now(UTC))
            for page in pages:
                for entry in page.get("SpotPriceHistory", []):
                    # Accounts from the EC2-Classic era also see "(Amazon VPC)" rows.
                    if not entry.get("ProductDescription", "").startswith("Linux/UNIX"):
                        continue
                    key = (entry["InstanceType"], entry["AvailabilityZone"])
                    stamp = entry["Timestamp"]
                    if key not in latest or stamp > latest[key][0]:
                        latest[key] = (stamp, float(entry["SpotPrice"]))
        prices = {key: price for key, (_, price) in latest.items()}
        self._spot_cache[region] = (time.monotonic(), prices)
        return prices

    def _on_demand(self, region: str, instance_type: str) -> float | None:
        if self.config.pricing == "table":
            return aws_prices.table_price(instance_type)
        key = (region, instance_type)
        cached = self._on_demand_cache.get(key)
        if cached and time.monotonic() - cached[0] < ON_DEMAND_TTL_S:
            return cached[1]
        pricing = self.client("pricing", aws_prices.API_REGION)
        try:
            with _calling("GetProducts"):
                price = aws_prices.api_price(pricing, region, instance_type)
        except ProviderError as exc:
            # The table is a fair stand-in; a missing permission or a throttled
            # Price List must not hide every offer.
            log.warning("aws pricing API for %s in %s: %s; using the %s table",
                        instance_type, region, exc, aws_prices.TABLE_REGION)
            return aws_prices.table_price(instance_type)
        if price is None:
            price = aws_prices.table_price(instance_type)
        self._on_demand_cache[key] = (time.monotonic(), price)
        return price

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        config = self.config
        if not config.ami:
            raise ProviderError("the aws provider has no agent AMI to boot: set AIMA_AWS_AMI "
                                "to an AMI id with the NVIDIA driver and the agent")
        instance_type, _, zone = (offer.offer_id or offer.instance_type).partition(":")
        instance_type = instance_type or offer.instance_type
        region = offer.region or config.region
        if zone and not zone.startswith(region):
            zone = ""  # an offer id of another form: let EC2 choose the zone
        user_data = spec.user_data or boot_script(spec.command, spec.env,
                                                  image=spec.image, name=spec.name)
        if len(user_data.encode()) > USER_DATA_LIMIT:
            raise ProviderError(f"user data is {len(user_data.encode())} bytes; EC2 takes "
                                f"at most {USER_DATA_LIMIT}")
        tags = {**spec.tags, "Name": spec.name}
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        params: dict[str, Any] = {
            "ImageId": config.ami, "InstanceType": instance_type, "MinCount": 1, "MaxCount": 1,
            "UserData": user_data,
            # Volumes too, so that the bill can be split by the same tags.
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list},
                                  {"ResourceType": "volume", "Tags": tag_list}],
            # The user data holds the agent's secrets: IMDSv2 only, and no hops
            # out of the instance, so that a forged request cannot fetch them.
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            # An agent that powers its host off is done with it: stop paying.
            "InstanceInitiatedShutdownBehavior": "terminate",
            "BlockDeviceMappings": self._root_volume(region, spec.disk_gb),
        }
        subnets = self._subnets_by_zone(region)
        if subnets is not None:
            if zone not in subnets:
                raise ProviderError(f"no subnet of AIMA_AWS_SUBNET_ID is in {zone or region}")
            params["SubnetId"] = subnets[zone]
        elif zone:
            params["Placement"] = {"AvailabilityZone": zone}
        if config.security_group_ids:
            params["SecurityGroupIds"] = list(config.security_group_ids)
        if config.key_name:
            params["KeyName"] = config.key_name
        if config.instance_profile:
            kind = "Arn" if config.instance_profile.startswith("arn:") else "Name"
            params["IamInstanceProfile"] = {kind: config.instance_profile}
        if spec.spot:
            bid = spec.bid_per_hour or offer.price_per_hour
            params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "MaxPrice": _dollars(bid),
                # One-time and terminate: the control plane, not EC2, decides
                # whether to start again elsewhere after an interruption.
                "SpotInstanceType": "one-time",
                "InstanceInterruptionBehavior": "terminate"}}
        ec2 = self.client("ec2", region)
        with _calling("RunInstances"):
            answer = ec2.run_instances(**params)
        raw = answer["Instances"][0]
        self._home[raw["InstanceId"]] = region
        if spec.spot:
            price = offer.spot_price_per_hour or spec.bid_per_hour or offer.price_per_hour
        else:
            price = offer.price_per_hour
        log.info("aws launched %s (%s in %s, %s)", raw["InstanceId"], instance_type,
                 zone or region, "spot" if spec.spot else "on-demand")
        return _instance(raw, offer.gpu_model, price)

    def _root_volume(self, region: str, disk_gb: int) -> list[dict[str, Any]]:
        ec2 = self.client("ec2", region)
        with _calling("DescribeImages"):
            images = ec2.describe_images(ImageIds=[self.config.ami]).get("Images", [])
        if not images:
            raise ProviderError(f"AMI {self.config.ami} (AIMA_AWS_AMI) is not in {region}")
        image = images[0]
        root = image.get("RootDeviceName", "/dev/xvda")
        snapshot_gb = max((m.get("Ebs", {}).get("VolumeSize", 0)
                           for m in image.get("BlockDeviceMappings", [])
                           if m.get("DeviceName") == root), default=0)
        # A root volume smaller than the AMI's snapshot is refused.
        size = max(disk_gb, snapshot_gb)
        return [{"DeviceName": root, "Ebs": {"VolumeSize": size, "VolumeType": "gp3",
                                             "DeleteOnTermination": True}}]

    def describe(self, instance_id: str) -> Instance:
        region, raw = self._find(instance_id)
        return self._priced([(region, raw)])[0]

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})
        found: list[tuple[str, dict[str, Any]]] = []
        for region in self.config.regions:
            ec2 = self.client("ec2", region)
            with _calling("DescribeInstances"):
                for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
                    for reservation in page.get("Reservations", []):
                        for raw in reservation.get("Instances", []):
                            self._home[raw["InstanceId"]] = region
                            found.append((region, raw))
        return self._priced(found)

    def terminate(self, instance_id: str) -> None:
        for region in self._regions_for(instance_id):
            ec2 = self.client("ec2", region)
            try:
                with _calling("TerminateInstances"):
                    ec2.terminate_instances(InstanceIds=[instance_id])
            except NotFoundError:
                continue
            log.info("aws terminating %s in %s", instance_id, region)
            return

    def pause(self, instance_id: str) -> None:
        region, raw = self._find(instance_id)
        state = raw["State"]["Name"]
        if raw.get("InstanceLifecycle") == "spot":
            # Every spot instance this provider starts is one-time, and EC2
            # stops only persistent ones.
            raise NotSupportedError(f"{instance_id} is a one-time spot instance: EC2 cannot "
                                    f"stop it, only terminate it")
        if state in ("shutting-down", "terminated"):
            raise NotFoundError(f"{instance_id} is {state}")
        if state in ("stopping", "stopped"):
            return
        with _calling("StopInstances"):
            self.client("ec2", region).stop_instances(InstanceIds=[instance_id])

    def resume(self, instance_id: str) -> None:
        region, raw = self._find(instance_id)
        state = raw["State"]["Name"]
        if state in ("shutting-down", "terminated"):
            raise NotFoundError(f"{instance_id} is {state}")
        if state in ("pending", "running"):
            return
        if state == "stopping":
            raise TransientError(f"{instance_id} is still stopping; resume it once stopped")
        with _calling("StartInstances"):
            self.client("ec2", region).start_instances(InstanceIds=[instance_id])

    def health(self) -> Health:
        try:
            with _calling("GetCallerIdentity"):
                identity = self.client("sts", self.config.region).get_caller_identity()
        except ProviderError as exc:
            return Health(ok=False, message=str(exc))
        where = f"account {identity.get('Account', '?')}, regions {','.join(self.config.regions)}"
        if not self.config.ami:
            return Health(ok=False, message=f"{where}; no AMI to launch: set AIMA_AWS_AMI")
        return Health(ok=True, message=f"{where}, AMI {self.config.ami}")

    # ------------------------------------------------------------ helpers

    def _regions_for(self, instance_id: str) -> list[str]:
        """Where to look for an instance: where it was last seen first."""
        home = self._home.get(instance_id)
        others = [r for r in self.config.regions if r != home]
        return [home, *others] if home else others

    def _find(self, instance_id: str) -> tuple[str, dict[str, Any]]:
        for region in self._regions_for(instance_id):
            ec2 = self.client("ec2", region)
            try:
                with _calling("DescribeInstances"):
                    answer = ec2.describe_instances(InstanceIds=[instance_id])
            except NotFoundError:
                continue
            for reservation in answer.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    self._home[instance_id] = region
                    return region, raw
        raise NotFoundError(f"no EC2 instance {instance_id} in {', '.join(self.config.regions)}")

    def _priced(self, found: list[tuple[str, dict[str, Any]]]) -> list[Instance]:
        """Instances with their GPU model and what an hour of each costs now."""
        spot_types: dict[str, set[str]] = {}
        for region, raw in found:
            if raw.get("InstanceLifecycle") == "spot":
                spot_types.setdefault(region, set()).add(raw["InstanceType"])
        spot = {region: self._spot_prices(region, sorted(names))
                for region, names in spot_types.items()}
        instances = []
        for region, raw in found:
            instance_type = raw["InstanceType"]
            gpu_type = self._gpu_type_of(region, instance_type)
            price = self._on_demand(region, instance_type) or 0.0
            if raw.get("InstanceLifecycle") == "spot":
                zone = raw.get("Placement", {}).get("AvailabilityZone", "")
                price = spot.get(region, {}).get((instance_type, zone), price)
            instances.append(_instance(raw, gpu_type.gpu_model if gpu_type else "", price))
        return instances

    def _gpu_type_of(self, region: str, instance_type: str) -> GpuType | None:
        known = self._gpu_types(region)
        if instance_type not in known:
            # Launched under other patterns, or not a GPU type at all: ask once.
            with _calling("DescribeInstanceTypes"):
                answer = self.client("ec2", region).describe_instance_types(
                    InstanceTypes=[instance_type])
            for info in answer.get("InstanceTypes", []):
                gpu_type = _gpu_type(info, architecture=None)
                if gpu_type is not None:
                    known[instance_type] = gpu_type
        return known.get(instance_type)


def boot_script(command: str, env: Mapping[str, str], image: str = "",
                name: str = "") -> str:
    """The user data of a launch without its own: cloud-init runs a script
    that starts with ``#!`` once, as root, at first boot, and writes its output
    to /var/log/cloud-init-output.log. With an ``image`` the agent runs in a
    container named ``name``; without one, ``command`` runs on the VM."""
    for key in env:
        if not ENV_NAME.match(key):
            raise ProviderError(f"environment variable name {key!r} is not a shell name")
    if image:
        return _container_script(command, env, image, name)
    lines = ["#!/bin/bash", "# Written by AIMA's aws provider: the environment, then the command."]
    lines.extend(f"export {key}={shlex.quote(value)}" for key, value in env.items())
    lines.append(command)
    return "\n".join(lines) + "\n"


def _container_script(command: str, env: Mapping[str, str], image: str, name: str) -> str:
    if not IMAGE_REF.match(image):
        raise ProviderError(f"agent image {image!r} is not an image reference")
    if not CONTAINER_NAME.match(name):
        raise ProviderError(f"instance name {name!r} is not a Docker container name")
    for key, value in env.items():
        # docker --env-file reads one variable a line, the value as it stands.
        if "\n" in value or "\r" in value:
            raise ProviderError(f"environment variable {key} holds a line break, which "
                                f"an env file cannot carry")
    env_file = f"{ENV_DIR}/agent.env"
    pairs = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    run = ["docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
           "--name", name, "--env-file", env_file, image]
    if command:
        run += ["sh", "-c", command]
    return "\n".join([
        "#!/bin/bash",
        "# Written by AIMA's aws provider: the agent's environment, then its container.",
        "set -eu",
        # A file only root reads, not -e flags: any user sees a command line in ps.
        f"install -d -m 700 {shlex.quote(ENV_DIR)}",
        f"(umask 077; printf '%s\\n' {pairs} > {shlex.quote(env_file)})",
        "# At first boot dockerd may still be starting.",
        "for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 2; done",
        # No --restart: a second start would enrol a second agent with the same
        # token, one the instance does not know. An agent that stops leaves its
        # instance to the control plane (the boot timeout, the idle grace).
        # --init: a PID 1 that reaps whatever the agent's processes leave behind.
        # --network host: the agent only dials out; no bridge or NAT in its way.
        "# No --restart: an instance whose agent stopped is the control plane's to end.",
        shlex.join(run),
    ]) + "\n"


@contextmanager
def _calling(operation: str) -> Iterator[None]:
    """Turns boto3's exceptions into the provider errors of ``providers.base``."""
    try:
        yield
    except ClientError as exc:
        raise client_error(exc) from None
    except CREDENTIAL_ERRORS as exc:
        raise AuthError(f"AWS {operation}: no usable credentials ({type(exc).__name__}); "
                        f"set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from None
    except (ConnectionError, HTTPClientError) as exc:
        raise TransientError(f"AWS {operation}: {type(exc).__name__}: {exc}") from None
    except BotoCoreError as exc:
        raise ProviderError(f"AWS {operation}: {type(exc).__name__}: {exc}") from None


def client_error(exc: ClientError) -> ProviderError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = exc.operation_name or "call"
    if code in AUTH_CODES:
        # AWS's own message may quote the request or an encoded policy; the code
        # says what went wrong without either.
        return AuthError(f"AWS {operation} refused: {code}: check the credentials and the "
                         f"IAM permissions of the AWS identity")
    message = f"AWS {operation} failed: {code}: {str(error.get('Message', ''))[:300]}"
    if code in CAPACITY_CODES:
        return CapacityError(message)
    if code in QUOTA_CODES:
        return QuotaError(message)
    if code in NOT_FOUND_CODES:
        return NotFoundError(message)
    if code in NOT_SUPPORTED_CODES:
        return NotSupportedError(message)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(message)
    return ProviderError(message)


def _gpu_type(info: Mapping[str, Any], architecture: str | None) -> GpuType | None:
    gpus = [g for g in info.get("GpuInfo", {}).get("Gpus", [])
            if g.get("Manufacturer") == "NVIDIA" and g.get("Count", 0) > 0]
    if not gpus:
        return None  # no GPU, a fractional one (g6f), or not one CUDA runs on
    arches = info.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    if architecture is not None and architecture not in arches:
        return None
    gpu = gpus[0]
    network = info.get("NetworkInfo", {})
    baseline_gbps = sum(card.get("BaselineBandwidthInGbps", 0.0)
                        for card in network.get("NetworkCards", []))
    return GpuType(
        name=info["InstanceType"],
        gpu_model=f"NVIDIA {gpu['Name']}",
        vram_gb=round(gpu.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 2),
        gpu_count=sum(g["Count"] for g in gpus),
        # The guaranteed rate, not the burst "up to": media arrive over hours.
        bandwidth_mbps=baseline_gbps * 1000 or 1000.0)


def _instance(raw: Mapping[str, Any], gpu_model: str, price: float) -> Instance:
    launched = raw.get("LaunchTime")
    zone = raw.get("Placement", {}).get("AvailabilityZone", "")
    return Instance(
        provider=NAME, instance_id=raw["InstanceId"],
        state=STATES.get(raw.get("State", {}).get("Name", ""), InstanceState.UNKNOWN),
        offer_id=f"{raw['InstanceType']}:{zone}" if zone else raw["InstanceType"],
        gpu_model=gpu_model, price_per_hour=price,
        spot=raw.get("InstanceLifecycle") == "spot",
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        launched_at=launched.astimezone(UTC) if isinstance(launched, datetime) else None,
        address=raw.get("PublicIpAddress") or raw.get("PrivateIpAddress") or "")


def _within(requirements: Requirements, price: float, spot_price: float | None) -> bool:
    if requirements.spot and spot_price is None:
        return False
    cap = requirements.max_price_per_hour
    if cap is None:
        return True
    if requirements.spot:
        return spot_price is not None and spot_price <= cap
    if requirements.spot is None and spot_price is not None:
        return min(price, spot_price) <= cap
    return price <= cap


def _region_wanted(region: str, prefixes: tuple[str, ...]) -> bool:
    return not prefixes or any(region.upper().startswith(p.upper()) for p in prefixes)


def _words(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))


def _dollars(amount: float) -> str:
    return f"{amount:.6f}".rstrip("0").rstrip(".")
