"""The aws provider against moto's EC2, with botocore's Stubber answering where
moto cannot (faults, the Price List API, a spot price history with changes)."""

from __future__ import annotations

import base64
import json
import shlex
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from providers import aws_prices, registry
from providers.aws import AwsProvider, boot_script
from providers.aws_boot import host_env
from providers.base import (
    DEPLOYMENT_TAG,
    AuthError,
    CapacityError,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    NotSupportedError,
    Offer,
    Provider,
    ProviderError,
    QuotaError,
    Requirements,
    TransientError,
)
from tests.providers.test_boot import runner_of

REGION = "us-east-1"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
IMAGE = "ghcr.io/aima/agent:1.4"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's 1,300 stock AMIs cost seconds a test; the agent AMI is made below.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def ec2(credentials: None):
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@pytest.fixture
def ami(ec2) -> str:
    builder = ec2.run_instances(ImageId="ami-00000000000000000", InstanceType="t3.micro",
                                MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=builder, Name="aima-agent")["ImageId"]
    ec2.terminate_instances(InstanceIds=[builder])
    return image


def provider(ami: str = "", **settings: str) -> AwsProvider:
    return AwsProvider({"region": REGION, "ami": ami, **settings})


def spec(deployment: str = "d1", image: str = "", **kw) -> LaunchSpec:
    """Without an image by default: an AMI with the agent installed."""
    return LaunchSpec(name="agent-1", image=image, command="/opt/aima/agent --serve",
                      env={"AIMA_AGENT_TOKEN": "t0k", "NOTE": "it's $(not run) `either`"},
                      tags={DEPLOYMENT_TAG: deployment}, **kw)


def offer_for(p: AwsProvider, instance_type: str = "g5.xlarge", zone: str = "us-east-1c",
              **requirements) -> Offer:
    found = {o.offer_id: o for o in p.offers(Requirements(**requirements))}
    return found[f"{instance_type}:{zone}"]


def raw_instance(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


# ---------------------------------------------------------------- offers


def test_offers_come_from_gpu_info_with_table_and_spot_prices(ec2) -> None:
    offers = provider().offers(Requirements(min_vram_gb=20))

    types = {o.instance_type for o in offers}
    assert {"g5.xlarge", "g6.xlarge", "g6e.xlarge", "p4d.24xlarge", "p5.48xlarge"} <= types
    assert not any(t.startswith("g4dn.") for t in types), "T4s have 16 GiB"
    assert not any(t.startswith(("g6f.", "g5g.", "p3.")) for t in types)
    assert all(o.vram_gb >= 20 for o in offers)
    g5 = next(o for o in offers if o.offer_id == "g5.xlarge:us-east-1a")
    assert (g5.provider, g5.region, g5.gpu_model, g5.gpu_count) == ("aws", REGION, "NVIDIA A10G", 1)
    assert g5.vram_gb == pytest.approx(22888 / 1024, abs=0.01)
    assert g5.price_per_hour == 1.006
    assert g5.spot_price_per_hour == pytest.approx(0.00001)  # moto's spot price
    assert g5.cuda_version == "12.4" and g5.reliability == 1.0 and g5.boot_s == 120
    assert g5.bandwidth_mbps == 2500  # g5.xlarge: 2.5 Gbps baseline, "up to 10"
    assert datetime.now(UTC) - g5.priced_at < timedelta(minutes=1)
    p5 = next(o for o in offers if o.instance_type == "p5.48xlarge")
    assert (p5.gpu_model, p5.gpu_count, p5.vram_gb, p5.price_per_hour) == (
        "NVIDIA H100", 8, 80.0, 55.04)
    zones = {o.offer_id.split(":")[1] for o in offers if o.instance_type == "g5.xlarge"}
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"}


def test_offers_meet_count_price_spot_cuda_and_region_requirements(ec2) -> None:
    p = provider()
    eight = p.offers(Requirements(gpu_count=8))
    assert {o.instance_type for o in eight} == {
        "g4dn.metal", "g5.48xlarge", "g6.48xlarge", "g6e.48xlarge", "p4d.24xlarge", "p5.48xlarge"}
    cheap = p.offers(Requirements(max_price_per_hour=0.9, spot=False))
    assert {o.instance_type for o in cheap} == {"g4dn.xlarge", "g4dn.2xlarge", "g6.xlarge"}
    assert all(o.spot_price_per_hour is not None for o in p.offers(Requirements(spot=True)))
    assert p.offers(Requirements(min_cuda="12.8")) == []
    assert provider(cuda_version="12.8").offers(Requirements(min_cuda="12.8"))
    assert p.offers(Requirements(regions=("EU",))) == []
    assert p.offers(Requirements(regions=("us-",)))


def test_instance_type_patterns_and_regions_come_from_the_settings(ec2) -> None:
    p = provider(instance_types="g4dn.xlarge, g6e.*", regions="us-east-1,eu-west-1")
    offers = p.offers(Requirements())
    assert {o.instance_type for o in offers} <= {"g4dn.xlarge"} | {
        f"g6e.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
                                   "16xlarge", "24xlarge", "48xlarge")}
    assert {o.region for o in offers} == {"us-east-1", "eu-west-1"}
    assert all(o.offer_id.split(":")[1].startswith(o.region) for o in offers)
    eu = p.offers(Requirements(regions=("eu",)))
    assert eu and {o.region for o in eu} == {"eu-west-1"}


def test_a_subnet_limits_offers_to_its_zone(ec2, ami: str) -> None:
    subnet = next(s for s in ec2.describe_subnets()["Subnets"]
                  if s["AvailabilityZone"] == "us-east-1b")
    p = provider(ami, subnet_id=subnet["SubnetId"], instance_types="g5.xlarge")
    offers = p.offers(Requirements())
    assert [o.offer_id for o in offers] == ["g5.xlarge:us-east-1b"]

    instance = p.launch(offers[0], spec())
    assert raw_instance(ec2, instance.instance_id)["SubnetId"] == subnet["SubnetId"]


def test_spot_price_is_the_latest_linux_price_per_zone(credentials: None) -> None:
    p = provider(instance_types="g5.xlarge")
    client = p.client("ec2", REGION)
    earlier, later = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    with Stubber(client) as stub:
        stub.add_response("describe_instance_types", {"InstanceTypes": [{
            "InstanceType": "g5.xlarge",
            "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
            "GpuInfo": {"Gpus": [{"Name": "A10G", "Manufacturer": "NVIDIA", "Count": 1,
                                  "MemoryInfo": {"SizeInMiB": 22888}}]}}]})
        stub.add_response("describe_instance_type_offerings", {"InstanceTypeOfferings": [
            {"InstanceType": "g5.xlarge", "LocationType": "availability-zone", "Location": z}
            for z in ("us-east-1a", "us-east-1b")]},
            {"LocationType": "availability-zone",
             "Filters": [{"Name": "instance-type", "Values": ["g5.xlarge"]}]})
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": [
            {"InstanceType": "g5.xlarge", "AvailabilityZone": "us-east-1a",
             "ProductDescription": "Linux/UNIX", "SpotPrice": "0.41", "Timestamp": later},
            {"InstanceType": "g5.xlarge", "AvailabilityZone": "us-east-1a",
             "ProductDescription": "Linux/UNIX", "SpotPrice": "0.30", "Timestamp": earlier},
            {"InstanceType": "g5.xlarge", "AvailabilityZone": "us-east-1b",
             "ProductDescription": "SUSE Linux", "SpotPrice": "0.20", "Timestamp": later}]},
            {"InstanceTypes": ["g5.xlarge"], "ProductDescriptions": ["Linux/UNIX"],
             "StartTime": ANY})
        offers = {o.offer_id: o for o in p.offers(Requirements())}
        stub.assert_no_pending_responses()

    assert offers["g5.xlarge:us-east-1a"].spot_price_per_hour == 0.41
    assert offers["g5.xlarge:us-east-1b"].spot_price_per_hour is None
    assert offers["g5.xlarge:us-east-1b"].price_per_hour == 1.006


def test_pricing_api_gives_the_regions_own_on_demand_price(ec2) -> None:
    p = provider(pricing="api", instance_types="g5.xlarge,g6.xlarge")
    product = {"product": {"sku": "X"}, "terms": {"OnDemand": {"X.JRTCKXETXF": {
        "priceDimensions": {"X.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": "1.1000000000"}}}}}}}
    with Stubber(p.client("pricing", aws_prices.API_REGION)) as stub:
        stub.add_response("get_products", {"PriceList": [json.dumps(product)]},
                          {"ServiceCode": "AmazonEC2", "MaxResults": 10,
                           "Filters": aws_prices.api_filters(REGION, "g5.xlarge")})
        stub.add_client_error("get_products", "AccessDeniedException", "no pricing:GetProducts",
                              http_status_code=400)
        offers = p.offers(Requirements())
        stub.assert_no_pending_responses()
        prices = {o.instance_type: o.price_per_hour for o in offers}
        assert prices == {"g5.xlarge": 1.1, "g6.xlarge": 0.8048}  # the latter from the table
        # Cached for a day: no second question for g5.xlarge.
        assert {o.price_per_hour for o in p.offers(Requirements())
                if o.instance_type == "g5.xlarge"} == {1.1}


def test_moto_has_no_pricing_api(ec2) -> None:
    # Why the price list test above answers through a Stubber.
    with pytest.raises(Exception, match="Not yet implemented"):
        boto3.client("pricing", region_name="us-east-1").get_products(ServiceCode="AmazonEC2")


# ---------------------------------------------------------------- launch


def test_launch_on_demand_tags_user_data_zone_and_disk(ec2, ami: str) -> None:
    p = provider(ami)
    offer = offer_for(p)
    instance = p.launch(offer, spec(disk_gb=80))

    raw = raw_instance(ec2, instance.instance_id)
    assert raw["InstanceType"] == "g5.xlarge"
    assert raw["Placement"]["AvailabilityZone"] == "us-east-1c"
    assert "InstanceLifecycle" not in raw and not instance.spot
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags == {DEPLOYMENT_TAG: "d1", "Name": "agent-1"} == dict(instance.tags)
    encoded = ec2.describe_instance_attribute(InstanceId=instance.instance_id,
                                              Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(encoded).decode()
    assert script == boot_script(spec().command, {**spec().env, **host_env(spec())})
    # Installed as a service, so that a stop and start (a pause) runs the agent again.
    assert script.endswith("systemctl enable --now aima-agent.service\n")
    # Its agent ends it by powering it off; an on-demand host polls no spot notices.
    runner = runner_of(script)
    assert "export AIMA_SHUTDOWN=aws" in runner and "AIMA_PREEMPTION_NOTICES" not in runner
    assert ec2.describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="instanceInitiatedShutdownBehavior",
    )["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert raw["MetadataOptions"]["HttpTokens"] == "required"
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                             "Values": [instance.instance_id]}])["Volumes"]
    assert [(v["Size"], v["VolumeType"]) for v in volumes] == [(80, "gp3")]
    assert {t["Key"]: t["Value"] for t in volumes[0]["Tags"]}[DEPLOYMENT_TAG] == "d1"
    assert instance.state == InstanceState.PENDING
    assert (instance.offer_id, instance.gpu_model, instance.price_per_hour) == (
        "g5.xlarge:us-east-1c", "NVIDIA A10G", 1.006)
    assert instance.launched_at is not None and instance.launched_at.tzinfo == UTC


def test_launch_spot_bids_the_on_demand_price_or_the_given_bid(ec2, ami: str) -> None:
    p = provider(ami)
    offer = offer_for(p)
    instance = p.launch(offer, spec(spot=True))
    raw = raw_instance(ec2, instance.instance_id)
    assert raw["InstanceLifecycle"] == "spot"
    assert instance.spot and instance.price_per_hour == offer.spot_price_per_hour
    assert p.describe(instance.instance_id).spot
    # Its agent polls the metadata service for interruption notices.
    encoded = ec2.describe_instance_attribute(InstanceId=instance.instance_id,
                                              Attribute="userData")["UserData"]["Value"]
    assert "export AIMA_PREEMPTION_NOTICES=aws" in runner_of(base64.b64decode(encoded).decode())

    client = p.client("ec2", REGION)
    seen: list[dict] = []
    client.meta.events.register("provide-client-params.ec2.RunInstances",
                                lambda params, **_: seen.append(params))
    p.launch(offer, spec(spot=True, bid_per_hour=0.5))
    p.launch(offer, spec(spot=True))
    options = [s["InstanceMarketOptions"] for s in seen]
    assert options[0] == {"MarketType": "spot", "SpotOptions": {
        "MaxPrice": "0.5", "SpotInstanceType": "one-time",
        "InstanceInterruptionBehavior": "terminate"}}
    assert options[1]["SpotOptions"]["MaxPrice"] == "1.006"


def test_explicit_user_data_is_sent_as_it_is(ec2, ami: str) -> None:
    p = provider(ami)
    cloud_config = "#cloud-config\nruncmd:\n  - [echo, hello]\n"
    instance = p.launch(offer_for(p), spec(user_data=cloud_config))
    encoded = ec2.describe_instance_attribute(InstanceId=instance.instance_id,
                                              Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(encoded).decode() == cloud_config


def test_launch_with_an_image_runs_the_agent_in_its_container(ec2, ami: str) -> None:
    p = provider(ami)
    with_image = spec(image=IMAGE)
    instance = p.launch(offer_for(p), with_image)
    encoded = ec2.describe_instance_attribute(InstanceId=instance.instance_id,
                                              Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(encoded).decode()
    assert script == boot_script(with_image.command, {**with_image.env, **host_env(with_image)},
                                 image=IMAGE, name="agent-1")
    # The env in a root-only file; the container in the service, with the agent's
    # workdir on the disk (providers/boot.py, tests/providers/test_boot.py).
    assert "printf '%s\\n' AIMA_AGENT_TOKEN=t0k 'NOTE=" in script
    [run] = [line.removesuffix(" || rc=$?") for line in runner_of(script).splitlines()
             if line.startswith("docker run")]
    assert shlex.split(run) == [
        "docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
        "--name", "agent-1", "--env-file", "/etc/aima/agent.env",
        "--volume", "/var/lib/aima-agent:/var/lib/aima-agent", IMAGE,
        "sh", "-c", "/opt/aima/agent --serve"]
    assert "t0k" not in run and "export" not in runner_of(script)


def test_launch_without_an_ami_says_to_set_it(ec2) -> None:
    p = provider()
    with pytest.raises(ProviderError, match="AIMA_AWS_AMI") as caught:
        p.launch(offer_for(p), spec())
    assert not caught.value.retryable
    assert ec2.describe_instances()["Reservations"] == []
    health = p.health()
    assert not health.ok and "AIMA_AWS_AMI" in health.message


def test_launch_with_an_instance_profile_and_key(ec2, ami: str) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_instance_profile(InstanceProfileName="aima-agent")
    ec2.create_key_pair(KeyName="ops")
    p = provider(ami, instance_profile="aima-agent", key_name="ops")
    instance = p.launch(offer_for(p), spec())
    raw = raw_instance(ec2, instance.instance_id)
    assert raw["KeyName"] == "ops"
    assert raw["IamInstanceProfile"]["Arn"].endswith("instance-profile/aima-agent")


# ---------------------------------------------------------------- lifecycle


def test_list_by_tag_skips_other_deployments_and_terminated(ec2, ami: str) -> None:
    p = provider(ami)
    offer = offer_for(p)
    mine = [p.launch(offer, spec("d1")).instance_id for _ in range(3)]
    theirs = p.launch(offer, spec("d2")).instance_id
    p.terminate(mine[2])

    listed = p.list_instances({DEPLOYMENT_TAG: "d1"})
    assert sorted(i.instance_id for i in listed) == sorted(mine[:2])
    assert all(i.provider == "aws" and i.gpu_model == "NVIDIA A10G" for i in listed)
    assert [i.instance_id for i in p.list_instances({DEPLOYMENT_TAG: "d2"})] == [theirs]
    assert p.list_instances({DEPLOYMENT_TAG: "d1", "Name": "someone-else"}) == []
    # Another provider object (a restarted control plane) finds them too.
    assert len(provider(ami).list_instances({DEPLOYMENT_TAG: "d1"})) == 2


def test_terminate_is_idempotent(ec2, ami: str) -> None:
    p = provider(ami)
    instance = p.launch(offer_for(p), spec())
    p.terminate(instance.instance_id)
    p.terminate(instance.instance_id)
    p.terminate("i-0123456789abcdef0")
    assert p.describe(instance.instance_id).state == InstanceState.TERMINATED
    assert raw_instance(ec2, instance.instance_id)["State"]["Name"] == "terminated"
    with pytest.raises(NotFoundError):
        p.describe("i-0123456789abcdef0")


def test_pause_and_resume_stop_and_start_on_demand_instances(ec2, ami: str) -> None:
    p = provider(ami)
    assert p.supports_pause and isinstance(p, Provider)
    instance = p.launch(offer_for(p), spec())
    p.pause(instance.instance_id)
    assert p.describe(instance.instance_id).state == InstanceState.STOPPED
    p.pause(instance.instance_id)  # already stopped: nothing to do
    p.resume(instance.instance_id)
    assert p.describe(instance.instance_id).state == InstanceState.RUNNING
    p.resume(instance.instance_id)
    p.terminate(instance.instance_id)
    with pytest.raises(NotFoundError):
        p.resume(instance.instance_id)


def test_a_one_time_spot_instance_cannot_pause(ec2, ami: str) -> None:
    p = provider(ami)
    instance = p.launch(offer_for(p), spec(spot=True))
    with pytest.raises(NotSupportedError, match="spot"):
        p.pause(instance.instance_id)
    assert raw_instance(ec2, instance.instance_id)["State"]["Name"] != "stopped"


def test_health_names_the_account(ec2, ami: str) -> None:
    health = provider(ami).health()
    assert health.ok and "123456789012" in health.message and ami in health.message


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("code", "status", "error"), [
    ("InsufficientInstanceCapacity", 500, CapacityError),
    ("SpotMaxPriceTooLow", 400, CapacityError),
    ("InstanceLimitExceeded", 400, QuotaError),
    ("VcpuLimitExceeded", 400, QuotaError),
    ("MaxSpotInstanceCountExceeded", 400, QuotaError),
    ("UnauthorizedOperation", 403, AuthError),
    ("AuthFailure", 401, AuthError),
    ("RequestLimitExceeded", 503, TransientError),
    ("InternalError", 500, TransientError),
    ("SomethingNew", 502, TransientError),
    ("InvalidAMIID.NotFound", 400, ProviderError),
])
def test_run_instances_errors_map_to_typed_errors(ec2, ami: str, code: str, status: int,
                                                  error: type[ProviderError]) -> None:
    p = provider(ami)
    offer = offer_for(p)
    image = ec2.describe_images(ImageIds=[ami])
    with Stubber(p.client("ec2", REGION)) as stub:
        stub.add_response("describe_images", {"Images": image["Images"]})
        stub.add_client_error("run_instances", code,
                              f"refused for AKIAIOSFODNN7EXAMPLE with {SECRET}",
                              http_status_code=status)
        with pytest.raises(error) as caught:
            p.launch(offer, spec())
    assert type(caught.value) is error
    assert code in str(caught.value)
    assert caught.value.retryable is (error is TransientError)
    if error is AuthError:
        assert "AKIA" not in str(caught.value) and SECRET not in str(caught.value)


def test_describe_and_terminate_errors_map_too(ec2, ami: str) -> None:
    p = provider(ami)
    with Stubber(p.client("ec2", REGION)) as stub:
        stub.add_client_error("describe_instances", "InvalidInstanceID.NotFound", "gone")
        stub.add_client_error("terminate_instances", "InvalidInstanceID.NotFound", "gone")
        stub.add_client_error("terminate_instances", "UnauthorizedOperation", "no",
                              http_status_code=403)
        with pytest.raises(NotFoundError, match="i-0aaaaaaaaaaaaaaaa"):
            p.describe("i-0aaaaaaaaaaaaaaaa")
        p.terminate("i-0aaaaaaaaaaaaaaaa")
        with pytest.raises(AuthError):
            p.terminate("i-0aaaaaaaaaaaaaaaa")


def test_offers_fail_typed_when_every_region_fails(ec2) -> None:
    p = provider()
    with Stubber(p.client("ec2", REGION)) as stub:
        stub.add_client_error("describe_instance_types", "RequestLimitExceeded", "slow down",
                              http_status_code=503)
        with pytest.raises(TransientError, match="RequestLimitExceeded"):
            p.offers(Requirements())


def test_one_failing_region_leaves_the_others_offers(ec2) -> None:
    p = provider(regions="us-east-1,eu-west-1", instance_types="g5.xlarge")
    with Stubber(p.client("ec2", "eu-west-1")) as stub:
        stub.add_client_error("describe_instance_types", "OptInRequired", "not enabled",
                              http_status_code=401)
        offers = p.offers(Requirements())
    assert offers and {o.region for o in offers} == {REGION}


def test_an_unreachable_endpoint_is_transient(credentials: None) -> None:
    p = provider("ami-0123456789abcdef0", endpoint_url="http://127.0.0.1:9", max_attempts="1")
    with pytest.raises(TransientError, match="EndpointConnectionError"):
        p.offers(Requirements())
    health = p.health()
    assert not health.ok and "EndpointConnectionError" in health.message


def test_no_credentials_is_an_auth_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    # No instance metadata service to ask, and quickly so.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AuthError, match="credentials"):
        provider().offers(Requirements())
    with pytest.raises(AuthError, match="AIMA_AWS_PROFILE"):
        provider(profile="nobody")


# ---------------------------------------------------------------- registry


def test_the_registry_loads_it_by_entry_point(ec2, ami: str) -> None:
    loaded = registry.load(("aws",), environ={"AIMA_AWS_AMI": ami, "AIMA_AWS_REGION": REGION,
                                              "AIMA_AWS_INSTANCE_TYPES": "g6.xlarge"})
    aws = loaded.get("aws")
    assert isinstance(aws, AwsProvider) and isinstance(aws, Provider)
    assert loaded.settings["aws"]["ami"] == ami
    assert {o.instance_type for o in aws.offers(Requirements())} == {"g6.xlarge"}

    broken = registry.load(("aws",), environ={"AIMA_AWS_PRICING": "guess"})
    assert "AIMA_AWS_PRICING" in broken.broken["aws"]
