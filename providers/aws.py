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
| ``image`` | ``AIMA_AGENT_IMAGE`` | the agent image its instances run in Docker |

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
(``boot_script``, built by ``providers/boot.py``): it writes ``LaunchSpec.env``
to a root-only file and installs a systemd service that runs the agent at every
boot (so a stopped and started instance runs it again, with its credential kept
in /var/lib/aima-agent): ``LaunchSpec.command`` in ``LaunchSpec.image`` with
Docker (the AMI brings Docker and the NVIDIA container toolkit), or without an
image the command on the VM itself. Either way the env
also says how the agent ends its host (``AIMA_SHUTDOWN=aws``: it powers the VM
off, or exits ``POWER_OFF_EXIT`` for the script to, and
``InstanceInitiatedShutdownBehavior=terminate`` makes that a termination) and,
on a spot instance, to poll IMDSv2 for interruption notices
(``AIMA_PREEMPTION_NOTICES=aws``).
User data is readable by anyone allowed ``ec2:DescribeInstanceAttribute``, and
so are the secrets in the environment; instances require IMDSv2 so that a
request forged from inside the instance cannot read it either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ProfileNotFound

from providers.aws_boot import USER_DATA_LIMIT, boot_script, host_env
from providers.aws_catalogue import Catalogue
from providers.aws_config import NAME, SETTINGS, Config
from providers.aws_errors import calling
from providers.base import (
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    MultiGpu,
    Offer,
    Pausable,
    ProviderBase,
    Regional,
    Requirements,
    SpotMarket,
)
from providers.errors import (
    AuthError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
    TransientError,
)
from providers.matching import region_wanted

__all__ = ["NAME", "SETTINGS", "AwsProvider", "Config", "boot_script"]

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

log = logging.getLogger(__name__)


class AwsProvider(ProviderBase, Pausable, SpotMarket, Regional, MultiGpu):
    name = NAME

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
        self.catalogue = Catalogue(self.config, self.client)
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
        # Only the wanted regions are asked; their offers are checked by the one rule.
        regions = [r for r in self.config.regions if region_wanted(r, requirements.regions)]
        found: list[Offer] = []
        failures: list[ProviderError] = []
        for region in regions:
            try:
                found.extend(self.catalogue.region_offers(region, requirements))
            except ProviderError as exc:
                # One region that is not enabled, or down, leaves the others' offers.
                log.warning("aws offers in %s: %s", region, exc)
                failures.append(exc)
        if failures and len(failures) == len(regions):
            raise failures[0]
        return found

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        if not self.config.ami:
            raise ProviderError("the aws provider has no agent AMI to boot: set AIMA_AWS_AMI "
                                "to an AMI id with the NVIDIA driver and the agent")
        region, instance_type, zone = _target(offer, self.config.region)
        params = self._run_params(spec, region, instance_type, zone)
        if spec.spot:
            params["InstanceMarketOptions"] = _spot_market(spec.bid_per_hour
                                                           or offer.price_per_hour)
        ec2 = self.client("ec2", region)
        with calling("RunInstances"):
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

    def _run_params(self, spec: LaunchSpec, region: str, instance_type: str,
                    zone: str) -> dict[str, Any]:
        """RunInstances' arguments for one on-demand instance of ``spec``."""
        config = self.config
        user_data = spec.user_data or boot_script(spec.command, {**spec.env, **host_env(spec)},
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
        subnets = self.catalogue.subnets_by_zone(region)
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
        return params

    def _root_volume(self, region: str, disk_gb: int) -> list[dict[str, Any]]:
        ec2 = self.client("ec2", region)
        with calling("DescribeImages"):
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
            with calling("DescribeInstances"):
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
                with calling("TerminateInstances"):
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
        with calling("StopInstances"):
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
        with calling("StartInstances"):
            self.client("ec2", region).start_instances(InstanceIds=[instance_id])

    def health(self) -> Health:
        try:
            with calling("GetCallerIdentity"):
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
                with calling("DescribeInstances"):
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
        spot = {region: self.catalogue.spot_prices(region, sorted(names))
                for region, names in spot_types.items()}
        instances = []
        for region, raw in found:
            instance_type = raw["InstanceType"]
            gpu_type = self.catalogue.gpu_type_of(region, instance_type)
            price = self.catalogue.on_demand(region, instance_type) or 0.0
            if raw.get("InstanceLifecycle") == "spot":
                zone = raw.get("Placement", {}).get("AvailabilityZone", "")
                price = spot.get(region, {}).get((instance_type, zone), price)
            instances.append(_instance(raw, gpu_type.gpu_model if gpu_type else "", price))
        return instances


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


def _target(offer: Offer, home_region: str) -> tuple[str, str, str]:
    """The region, instance type and zone (empty: EC2 chooses) of an offer."""
    instance_type, _, zone = (offer.offer_id or offer.instance_type).partition(":")
    instance_type = instance_type or offer.instance_type
    region = offer.region or home_region
    if zone and not zone.startswith(region):
        zone = ""  # an offer id of another form: let EC2 choose the zone
    return region, instance_type, zone


def _spot_market(bid: float) -> dict[str, Any]:
    return {"MarketType": "spot", "SpotOptions": {
        "MaxPrice": _dollars(bid),
        # One-time and terminate: the control plane, not EC2, decides
        # whether to start again elsewhere after an interruption.
        "SpotInstanceType": "one-time",
        "InstanceInterruptionBehavior": "terminate"}}


def _dollars(amount: float) -> str:
    return f"{amount:.6f}".rstrip("0").rstrip(".")
