"""One ``contract.Harness`` per provider: the provider, its vendor's edge, and
the vendor's own ways of saying no (each error as that vendor reports it; the
sources are in the fakes' and the providers' docstrings).

``HARNESSES`` maps a name to a context manager that makes the harness for a
test and cleans up after it; GCP's and Azure's are in ``harnesses_clouds.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from providers.aws import AwsProvider
from providers.base import (
    DEPLOYMENT_TAG,
    INSTANCE_TAG,
    LaunchSpec,
    Offer,
    Provider,
    Requirements,
)
from providers.runpod import RunPodProvider
from providers.subprocess import SubprocessProvider
from providers.vastai import VastAiProvider
from tests.providers import fake_runpod
from tests.providers.fake_vastai import API_KEY, FakeVastAi

DEPLOYMENT = "contract"
IMAGE = "registry.test/aima-agent:1"


def launch_spec(instance_tag: str, image: str = IMAGE, command: str = "aima-agent") -> LaunchSpec:
    return LaunchSpec(name=f"aima-contract-{instance_tag}", image=image,
                      env={"AIMA_AGENT_TOKEN": "t0k"}, command=command,
                      tags={DEPLOYMENT_TAG: DEPLOYMENT, INSTANCE_TAG: instance_tag})


def cheapest(provider: Provider) -> Offer:
    return min(provider.offers(Requirements(spot=False)),
               key=lambda o: (o.price_per_hour, o.key))


# ---------------------------------------------------------------- Vast.ai


class VastHarness:
    kinds = ("quota", "capacity", "auth", "transient")
    hides = True
    fails_once = True

    def __init__(self, fake: FakeVastAi):
        self.fake = fake
        # One attempt a call: a fault is what the provider sees, not the SDK's retry.
        self.provider = VastAiProvider({"api_key": API_KEY, "url": fake.url, "retries": "1"})

    def fail_next(self, kind: str) -> None:
        rent = "/api/v0/asks/"  # renting an ask is where Vast says no capacity or credit
        faults: dict[str, dict[str, Any]] = {
            "capacity": dict(status=410, path=rent, body={
                "success": False, "error": "no_such_ask",
                "msg": "Instance type by id 1001 is not available."}),
            "quota": dict(status=400, path=rent, body={
                "success": False, "error": "insufficient_credit",
                "msg": "Your account lacks credit; add credit on the billing page."}),
            "auth": dict(status=401, body={"success": False, "error": "auth_error",
                                           "msg": "Invalid user key"}),
            "transient": dict(status=500),
        }
        self.fake.fail_next(**faults[kind])

    def hide_new_instances(self, listings: int) -> None:
        self.fake.hide_new_instances(listings)

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag)

    def offer(self) -> Offer:
        # Each ask rents once: the cheapest one not rented yet.
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "7999999"


@contextmanager
def vastai(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VastHarness]:
    with FakeVastAi() as fake:
        yield VastHarness(fake)


# ---------------------------------------------------------------- RunPod


class RunPodHarness:
    kinds = ("quota", "capacity", "auth", "transient")
    hides = True
    fails_once = True

    def __init__(self, fake: fake_runpod.FakeRunPod):
        self.fake = fake
        self.provider = RunPodProvider({"api_key": fake.api_key, "url": fake.url})

    def fail_next(self, kind: str) -> None:
        deploy = "podFindAndDeployOnDemand"
        if kind == "capacity":
            self.fake.refuse_next(deploy, fake_runpod.NO_CAPACITY)
        elif kind == "quota":
            self.fake.refuse_next(deploy, fake_runpod.LOW_BALANCE)
        elif kind == "auth":
            self.fake.fail_next(status=401, body=json.dumps(
                {"errors": [{"message": "Unauthorized"}]}))
        else:
            self.fake.fail_next(status=500)

    def hide_new_instances(self, listings: int) -> None:
        self.fake.hide_new_instances(listings)

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag)

    def offer(self) -> Offer:
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "zzzzzzzzzzzzzz"


@contextmanager
def runpod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunPodHarness]:
    with fake_runpod.FakeRunPod() as fake:
        yield RunPodHarness(fake)


# ---------------------------------------------------------------- AWS

REGION = "us-east-1"
# EC2's codes and statuses for each kind (docs.aws.amazon.com/AWSEC2/latest/
# APIReference/errors-overview.html); auth and throttling may answer any call.
EC2_FAULTS = {
    "capacity": ("RunInstances", "InsufficientInstanceCapacity", 500,
                 "We currently do not have sufficient g5.xlarge capacity in the Availability "
                 "Zone you requested."),
    "quota": ("RunInstances", "VcpuLimitExceeded", 400,
              "You have requested more vCPU capacity than your current vCPU limit allows."),
    "auth": ("", "UnauthorizedOperation", 403,
             "You are not authorized to perform this operation."),
    "transient": ("", "RequestLimitExceeded", 503, "Request limit exceeded."),
}


class AwsHarness:
    """moto's EC2, with faults and lagging listings through botocore's own event
    hooks on the provider's client (moto answers every call it can; these only
    say what moto cannot)."""

    kinds = ("quota", "capacity", "auth", "transient")
    hides = True
    fails_once = True

    def __init__(self, ami: str):
        self.provider = AwsProvider({"region": REGION, "ami": ami,
                                     "instance_types": "g5.xlarge,g6.xlarge"})
        self.ec2 = self.provider.client("ec2", REGION)
        self._hide_new = 0
        self._hidden: dict[str, int] = {}
        events = self.ec2.meta.events
        events.register("provide-client-params.ec2.DescribeInstances", self._note_listing)
        events.register("after-call.ec2.RunInstances", self._note_launch)
        events.register("after-call.ec2.DescribeInstances", self._hide_from_listing)

    def fail_next(self, kind: str) -> None:
        operation, code, status, message = EC2_FAULTS[kind]
        event = f"before-call.ec2.{operation}" if operation else "before-call.ec2"

        def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            self.ec2.meta.events.unregister(event, refuse)
            # What botocore's Stubber answers for add_client_error: the call is
            # not sent, and botocore raises ClientError from this.
            return AWSResponse(None, status, {}, None), {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status}}

        self.ec2.meta.events.register_first(event, refuse)

    def hide_new_instances(self, listings: int) -> None:
        self._hide_new = listings

    def _note_listing(self, params: dict[str, Any], context: dict[str, Any],
                      **_: Any) -> None:
        context["aima_listing"] = not params.get("InstanceIds")

    def _note_launch(self, parsed: dict[str, Any], **_: Any) -> None:
        for raw in parsed.get("Instances", []):
            if self._hide_new:
                self._hidden[raw["InstanceId"]] = self._hide_new

    def _hide_from_listing(self, parsed: dict[str, Any], context: dict[str, Any],
                           **_: Any) -> None:
        if not context.get("aima_listing"):
            return
        for reservation in parsed.get("Reservations", []):
            reservation["Instances"] = [raw for raw in reservation.get("Instances", [])
                                        if not self._hidden.get(raw["InstanceId"])]
        self._hidden = {iid: n - 1 for iid, n in self._hidden.items() if n > 1}

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag)

    def offer(self) -> Offer:
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "i-0123456789abcdef0"


@contextmanager
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsHarness]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
                        ("AWS_SECRET_ACCESS_KEY", "contract-secret"),
                        ("AWS_DEFAULT_REGION", REGION),
                        ("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        builder = ec2.run_instances(ImageId="ami-00000000000000000", InstanceType="t3.micro",
                                    MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        ami = ec2.create_image(InstanceId=builder, Name="aima-agent")["ImageId"]
        ec2.terminate_instances(InstanceIds=[builder])
        yield AwsHarness(ami)


# ---------------------------------------------------------------- subprocess


class SubprocessHarness:
    """The subprocess provider's vendor is this machine: its failures are the
    provider's own injected ones (``fail_launch_share``), so a fault fails every
    launch of the harness from then on; its listing reads records written
    before a launch returns, so nothing can lag."""

    kinds = ("quota", "capacity", "auth", "transient")
    hides = False
    fails_once = False

    def __init__(self, state_dir: Path, pausable: bool):
        self.settings = {"state_dir": str(state_dir), "boot_delay_s": "0",
                         "pause_support": "1" if pausable else "0"}
        # With pause_support, the pausable subclass (providers/subprocess_pause.py).
        self.provider = SubprocessProvider(self.settings)

    def fail_next(self, kind: str) -> None:
        settings = {**self.settings, "fail_launch_share": "1", "fail_as": kind}
        self.provider = SubprocessProvider(settings)

    def hide_new_instances(self, listings: int) -> None:
        pass  # nothing can lag: see the class's docstring

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag, image="", command="sleep 60")

    def offer(self) -> Offer:
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "sp-000000000000"

    def end_all(self) -> None:
        for instance in self.provider.list_instances({DEPLOYMENT_TAG: DEPLOYMENT}):
            self.provider.terminate(instance.instance_id)


def _subprocess(pausable: bool) -> Callable[..., AbstractContextManager[SubprocessHarness]]:
    @contextmanager
    def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SubprocessHarness]:
        harness = SubprocessHarness(tmp_path / "instances", pausable)
        try:
            yield harness
        finally:
            harness.end_all()

    return make


HARNESSES: dict[str, Callable[..., AbstractContextManager[Any]]] = {
    "vastai": vastai,
    "runpod": runpod,
    "aws": aws,
    "subprocess": _subprocess(pausable=False),
    "subprocess-pausable": _subprocess(pausable=True),
    # GCP's and Azure's are in harnesses_clouds.py.
}
KINDS_OF = {"vastai": VastHarness.kinds, "runpod": RunPodHarness.kinds,
            "aws": AwsHarness.kinds, "subprocess": SubprocessHarness.kinds,
            "subprocess-pausable": SubprocessHarness.kinds}
