"""The azure provider: the real Azure SDKs against a local fake of Entra ID,
ARM's Compute paths and the Retail Prices API, over TLS with a test CA."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from providers import registry
from providers.azure import AzureProvider
from providers.azure_boot import boot_script
from providers.base import (
    AuthError,
    CapacityError,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    Offer,
    Provider,
    QuotaError,
    Requirements,
    TransientError,
)
from providers.matching import matches
from providers.settings_schema import SettingsError
from tests.providers import fake_azure
from tests.providers.fake_azure import FakeAzure, azure_provider
from tests.providers.test_boot import runner_of

T4 = "Standard_NC4as_T4_v3"
A100 = "Standard_NC24ads_A100_v4"


@pytest.fixture
def fake() -> Iterator[FakeAzure]:
    yield from fake_azure.running()


@pytest.fixture
def az(fake: FakeAzure) -> AzureProvider:
    return azure_provider(fake)


def spec(spot: bool = False, **kw) -> LaunchSpec:
    return LaunchSpec(name="aima-7", image="ghcr.io/aima/agent:1.4",
                      env={"AIMA_AGENT_TOKEN": "t0k", "NOTE": "it's $HOME"},
                      command="python -m agents run", spot=spot,
                      tags={"aima-deployment": "d1", "aima-instance": "7"}, **kw)


def offer(az: AzureProvider, offer_id: str, **requirements) -> Offer:
    [found] = [o for o in az.offers(Requirements(**requirements)) if o.offer_id == offer_id]
    return found


def decoded_script(fake: FakeAzure, name: str) -> str:
    [put] = [r for r in fake.arm_requests("PUT") if r.path.endswith(f"/virtualMachines/{name}")]
    return base64.b64decode(put.body["properties"]["osProfile"]["customData"]).decode()


def test_it_is_a_registered_provider_with_its_capabilities(az):
    assert "azure" in registry.discover()
    assert isinstance(az, Provider)
    assert az.supports_pause and az.supports_spot and az.supports_regions
    assert az.supports_multi_gpu
    assert az.paused_price_per_hour(64) == pytest.approx(64 * 0.075 / 730)


def test_the_registry_loads_it_from_the_environment_with_secrets_masked(fake):
    environ = {"AIMA_PROVIDERS": "azure", "AIMA_AZURE_SUBSCRIPTION_ID": fake_azure.SUBSCRIPTION,
               "AIMA_AZURE_RESOURCE_GROUP": fake_azure.RESOURCE_GROUP,
               "AIMA_AZURE_CLIENT_SECRET": "s3cret", "AIMA_AZURE_TENANT_ID": "t",
               "AIMA_AZURE_CLIENT_ID": "c"}
    loaded = registry.load(environ=environ)
    assert isinstance(loaded.get("azure"), AzureProvider)
    assert loaded.settings["azure"]["client_secret"] != "s3cret"
    broken = registry.load(environ={**environ, "AIMA_AZURE_DISK_GB": "big"})
    assert "AIMA_AZURE_DISK_GB must be a whole number" in broken.broken["azure"]


def test_every_call_signs_in_at_the_fake_over_verified_tls(fake, az):
    az.offers(Requirements())
    token_posts = [r for r in fake.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert len(token_posts) == 1  # the token is kept for the next calls
    assert token_posts[0].body["grant_type"] == "client_credentials"
    assert all(r.headers["authorization"].startswith("Bearer ")
               for r in fake.arm_requests())


# ------------------------------------------------------------------ offers

def test_offers_are_gpu_sizes_per_region_with_linux_and_spot_prices(az):
    offers = {o.offer_id: o for o in az.offers(Requirements())}
    assert set(offers) == {f"{T4}:eastus", f"{T4}:westeurope", "Standard_NC64as_T4_v3:eastus",
                           "Standard_NV36ads_A10_v5:westeurope", f"{A100}:eastus",
                           f"{A100}:westeurope"}
    t4 = offers[f"{T4}:eastus"]
    assert (t4.provider, t4.instance_type, t4.gpu_model, t4.gpu_count, t4.vram_gb) == (
        "azure", T4, "T4", 1, 16)
    # Linux pay-as-you-go and Spot; Windows and Low Priority items are not prices of ours.
    assert (t4.price_per_hour, t4.spot_price_per_hour, t4.region) == (0.526, 0.0526, "eastus")
    assert t4.priced_at.tzinfo is not None and t4.cuda_version == "12.4" and t4.boot_s == 300
    # A size that is not LowPriorityCapable has no Spot offer.
    assert offers[f"{A100}:eastus"].spot_price_per_hour is None


def test_offers_meet_the_requirements_by_the_one_rule(az):
    for requirements in (Requirements(min_vram_gb=24), Requirements(gpu_count=2),
                         Requirements(spot=True, max_price_per_hour=0.5),
                         Requirements(regions=("WEST",))):
        found = az.offers(requirements)
        assert found and all(matches(requirements, o) for o in found)
    assert {o.offer_id for o in az.offers(Requirements(gpu_count=2))} == {
        "Standard_NC64as_T4_v3:eastus"}
    assert {o.region for o in az.offers(Requirements(regions=("west",)))} == {"westeurope"}
    assert az.offers(Requirements(min_cuda="13.0")) == []


def test_offers_honour_restrictions_and_page_through_prices(fake, az):
    fake.restrict(T4, "eastus")
    ids = {o.offer_id for o in az.offers(Requirements())}
    assert f"{T4}:eastus" not in ids and f"{T4}:westeurope" in ids
    # Four price items a size and region, two a page: NextPageLink was followed.
    assert any("$skip" in r.query for r in fake.requests if r.path == "/api/retail/prices")


# ------------------------------------------------------------------ launch

def test_launch_creates_a_tagged_vm_that_runs_the_agent_image(fake, az):
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    assert instance.instance_id.startswith("aima-7-") and instance.state == InstanceState.PENDING
    assert instance.tags == {"aima-deployment": "d1", "aima-instance": "7", "Name": "aima-7"}
    assert (instance.price_per_hour, instance.spot, instance.gpu_model) == (0.526, False, "T4")
    [put] = [r for r in fake.arm_requests("PUT") if "roleAssignments" not in r.path]
    body = put.body
    assert body["location"] == "eastus" and body["identity"] == {"type": "SystemAssigned"}
    assert body["tags"]["aima-instance"] == "7"
    properties = body["properties"]
    assert properties["hardwareProfile"] == {"vmSize": T4}
    assert "priority" not in properties
    network = properties["networkProfile"]
    assert network["networkApiVersion"] == "2022-11-01"
    [nic] = network["networkInterfaceConfigurations"]
    assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"] == {
        "id": fake_azure.SUBNET}
    script = decoded_script(fake, instance.instance_id)
    assert script.startswith("#!/bin/bash") and "systemctl enable --now aima-agent" in script
    assert " AIMA_SHUTDOWN=azure " in script and " AIMA_PREEMPTION_NOTICES=azure " in script
    assert "'NOTE=it'\"'\"'s $HOME'" in script


def test_launch_grants_the_vms_identity_the_right_to_delete_itself(fake, az):
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    [(path, body)] = fake.roles.items()
    assert f"/virtualMachines/{instance.instance_id}/providers/Microsoft.Authorization" in path
    assert body["properties"]["principalId"] == fake.vms[instance.instance_id][
        "identity"]["principalId"]
    assert body["properties"]["roleDefinitionId"].endswith(
        "9980e02c-c2be-4d73-94e8-173b1dc7cf3c")


def test_a_refused_role_assignment_leaves_the_launch_standing(fake, az, caplog):
    fake.refuse_roles = True
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    assert instance.instance_id in fake.vms and fake.roles == {}
    assert "will not be able to delete it" in caplog.text
    az_off = azure_provider(fake, self_delete_role="false")
    az_off.launch(offer(az_off, f"{T4}:eastus"), spec())
    assert len([r for r in fake.requests if "roleAssignments" in r.path]) == 1


def test_launch_spot_bids_with_eviction_delete(fake, az):
    instance = az.launch(offer(az, f"{T4}:westeurope"), spec(spot=True, bid_per_hour=0.07))
    properties = fake.vms[instance.instance_id]["properties"]
    assert (properties["priority"], properties["evictionPolicy"]) == ("Spot", "Delete")
    assert properties["billingProfile"] == {"maxPrice": 0.07}
    assert instance.spot and instance.price_per_hour == 0.059
    assert az.describe(instance.instance_id).spot


def test_boot_script_runs_the_image_as_a_service_from_every_boot():
    script = boot_script("python -m agents run", {"A": "1"}, "ghcr.io/aima/agent:1", "aima-1")
    assert "\nWantedBy=multi-user.target\n" in script
    agent = runner_of(script)
    assert "--volume /var/lib/aima-agent:/var/lib/aima-agent" in agent
    assert "ghcr.io/aima/agent:1 sh -c 'python -m agents run'" in agent
    assert 'if [ "$rc" -eq 75 ]; then systemctl poweroff; fi' in agent


# ------------------------------------------------------------------ lifecycle

def test_describe_follows_the_vm_from_creating_to_running(fake, az):
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    first = az.describe(instance.instance_id)
    assert first.state in (InstanceState.PENDING, InstanceState.RUNNING)
    fake.settle()
    described = az.describe(instance.instance_id)
    assert described.state == InstanceState.RUNNING
    assert described.tags == instance.tags and described.offer_id == f"{T4}:eastus"
    assert described.price_per_hour == 0.526 and described.launched_at is not None


def test_list_finds_by_tag_after_a_moment_of_invisibility(fake, az):
    fake.hide_new_instances(1)
    mine = az.launch(offer(az, f"{T4}:eastus"), spec())
    az.launch(offer(az, f"{T4}:eastus"), LaunchSpec(
        name="other", image="i:1", env={}, command="", tags={"aima-deployment": "d2"}))
    assert az.list_instances({"aima-deployment": "d1"}) == []
    [found] = az.list_instances({"aima-deployment": "d1"})
    assert found.instance_id == mine.instance_id
    assert len(az.list_instances({})) == 2  # two VMs, listed a page at a time


def test_terminate_twice_and_unknown_ids_are_fine(fake, az):
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    az.terminate(instance.instance_id)
    az.terminate(instance.instance_id)
    az.terminate("never-was")
    az.terminate("not a name!")
    assert az.list_instances({"aima-deployment": "d1"}) == []
    fake.settle()
    with pytest.raises(NotFoundError):
        az.describe(instance.instance_id)


def test_pause_deallocates_and_resume_starts(fake, az):
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    fake.settle()
    az.pause(instance.instance_id)
    assert fake.arm_requests("POST", "/deallocate")
    fake.settle()
    assert az.describe(instance.instance_id).state == InstanceState.STOPPED
    az.resume(instance.instance_id)
    fake.settle()
    assert az.describe(instance.instance_id).state == InstanceState.RUNNING
    with pytest.raises(NotFoundError):
        az.pause("never-was")


def test_the_sdks_poller_follows_the_fakes_operations(fake, az):
    """The fake's Azure-AsyncOperation answers are what ARMPolling expects."""
    instance = az.launch(offer(az, f"{T4}:eastus"), spec())
    poller = az._compute.virtual_machines.begin_deallocate(
        fake_azure.RESOURCE_GROUP, instance.instance_id, polling_interval=0)
    poller.result(timeout=30)
    assert poller.status() == "Succeeded"
    assert fake.vms[instance.instance_id]["_power"] == "deallocated"


# ------------------------------------------------------------------ errors and health

@pytest.mark.parametrize("kind, error", [("quota", QuotaError), ("capacity", CapacityError),
                                         ("auth", AuthError), ("transient", TransientError)])
def test_each_refusal_is_its_typed_error(fake, az, kind, error):
    chosen = offer(az, f"{T4}:eastus")
    fake.fail_next_kind(kind)
    with pytest.raises(error):
        az.launch(chosen, spec())


@pytest.mark.parametrize("code", ["AllocationFailed", "ZonalAllocationFailed",
                                  "OverconstrainedAllocationRequest"])
def test_allocation_failures_are_capacity(fake, az, code):
    chosen = offer(az, f"{T4}:eastus")
    fake.fail_next(409, code)
    with pytest.raises(CapacityError):
        az.launch(chosen, spec())


def test_a_token_arm_refuses_is_an_auth_error(fake, az):
    az.offers(Requirements())
    fake.tokens.clear()  # e.g. revoked, or for another tenant
    with pytest.raises(AuthError):
        az.describe("aima-7-abcdef")


def test_an_unreachable_endpoint_is_transient(fake):
    az = azure_provider(fake, arm_endpoint="https://127.0.0.1:9")
    with pytest.raises(TransientError):
        az.terminate("aima-7-abcdef")


def test_a_refused_secret_is_an_auth_error_and_an_unhealthy_provider(fake):
    az = azure_provider(fake, client_secret="wrong")
    with pytest.raises(AuthError):
        az.offers(Requirements())
    health = az.health()
    assert not health.ok and "wrong" not in health.message


@pytest.mark.parametrize("given, says", [
    ({"subscription_id": ""}, "AIMA_AZURE_SUBSCRIPTION_ID is required"),
    ({"client_secret": ""}, "go together"),
    ({"subnet_id": "subnet-1"}, "AIMA_AZURE_SUBNET_ID"),
    ({"arm_endpoint": "http://127.0.0.1:1"}, "AIMA_AZURE_ARM_ENDPOINT must be an https URL"),
    ({"boot_s": "soon"}, "AIMA_AZURE_BOOT_S must be a number"),
    ({"regoins": "eastus"}, "not a setting of provider 'azure'"),
])
def test_settings_are_checked_with_one_clear_line(fake, given, says):
    with pytest.raises(SettingsError, match=says):
        azure_provider(fake, **given)


def test_subnets_per_region_limit_offers_to_those_regions(fake):
    az = azure_provider(fake, subnet_id=f"westeurope={fake_azure.SUBNET}")
    assert {o.region for o in az.offers(Requirements())} == {"westeurope"}


def test_health(fake, az):
    assert az.health().ok
    assert not azure_provider(fake, subnet_id="").health().ok
    fake.fail_next(500, "InternalServerError")
    assert not az.health().ok
