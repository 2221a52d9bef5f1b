"""The gcp provider against a fake of Compute Engine's REST API and the Cloud
Billing Catalog (tests/providers/fake_gcp.py), through the real
google-cloud-compute SDK."""

from __future__ import annotations

import json
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials

from aima_tasks.kernel.instance_env import PREEMPTION_ENV, SHUTDOWN_ENV
from providers import registry
from providers.base import (
    AuthError,
    CapacityError,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    Offer,
    Provider,
    ProviderError,
    QuotaError,
    Requirements,
    TransientError,
)
from providers.gcp import GcpProvider
from providers.gcp_labels import decode, encode
from providers.settings_schema import SettingsError
from tests.providers.fake_gcp import gcp_provider, running
from tests.providers.test_boot import runner_of

L4 = "g2-standard-8:us-central1-a:nvidia-l4:1"
T4 = "n1-standard-8:us-central1-a:nvidia-tesla-t4:1"


@pytest.fixture
def fake():
    yield from running()


def spec(deployment: str = "d1", spot: bool = False, **changes) -> LaunchSpec:
    values = {"name": "aima-7", "image": "ghcr.io/aima/agent:1.4",
              "env": {"AIMA_AGENT_TOKEN": "s3cr3t-agent-token", "NOTE": "it's \"quoted\""},
              "command": "python -m agents run",
              "tags": {"aima-deployment": deployment, "aima-instance": "7",
                       "Owner": "Ops Team/EU"}, "spot": spot}
    return LaunchSpec(**{**values, **changes})


def offer_for(gcp: GcpProvider, offer_id: str, **requirements) -> Offer:
    return next(o for o in gcp.offers(Requirements(**requirements)) if o.offer_id == offer_id)


# ------------------------------------------------------------------ offers

def test_offers_are_priced_per_zone_from_the_billing_catalogue(fake):
    offers = {o.offer_id: o for o in gcp_provider(fake).offers(Requirements())}
    assert set(offers) == {L4, T4, "a2-highgpu-1g:us-central1-a:nvidia-tesla-a100:1",
                           "g2-standard-8:europe-west4-a:nvidia-l4:1"}
    l4 = offers[L4]
    # 8 vCPUs and 32 GiB of G2, and one L4: 8*0.02429 + 32*0.002846 + 0.56
    assert (l4.price_per_hour, l4.spot_price_per_hour) == (0.8454, 0.3382)
    assert (l4.region, l4.gpu_model, l4.vram_gb, l4.gpu_count) == (
        "us-central1", "NVIDIA L4", 22.35, 1)
    assert (l4.provider, l4.instance_type, l4.cuda_version) == ("gcp", "g2-standard-8", "12.4")
    assert offers[T4].instance_type == "n1-standard-8 + 1x nvidia-tesla-t4"
    # No Spot SKUs for A2 or for the Netherlands in the catalogue: no spot price.
    assert offers["g2-standard-8:europe-west4-a:nvidia-l4:1"].spot_price_per_hour is None
    # The catalogue came in pages; machine types were asked for by name.
    assert len(fake.calls("GET", "/skus")) > 1
    assert fake.calls("GET", "/machineTypes")[0].query["filter"].startswith('name eq "(')


def test_offers_are_filtered_by_the_one_matching_rule(fake):
    gcp = gcp_provider(fake)
    assert {o.gpu_model for o in gcp.offers(Requirements(min_vram_gb=40))} == {"NVIDIA A100"}
    assert {o.region for o in gcp.offers(Requirements(regions=("europe",)))} == {"europe-west4"}
    assert all(o.spot_price_per_hour for o in gcp.offers(Requirements(spot=True)))
    assert {o.offer_id for o in gcp.offers(Requirements(max_price_per_hour=0.8, spot=False))
            } == {T4}
    # Either market will do: the L4's spot price is under the cap.
    assert L4 in {o.offer_id for o in gcp.offers(Requirements(max_price_per_hour=0.8))}
    assert gcp.offers(Requirements(min_cuda="13.0")) == []


def test_several_gpus_take_the_machine_type_that_carries_them(fake):
    offers = {o.offer_id: o for o in gcp_provider(fake).offers(Requirements(gpu_count=2))}
    assert "g2-standard-24:us-central1-a:nvidia-l4:2" in offers
    assert offers["a2-highgpu-2g:us-central1-a:nvidia-tesla-a100:2"].gpu_count == 2
    assert offers["n1-standard-16:us-central1-a:nvidia-tesla-t4:2"].gpu_count == 2


def test_prices_and_zone_types_are_kept_between_calls(fake):
    gcp = gcp_provider(fake)
    gcp.offers(Requirements())
    asked = len(fake.requests)
    gcp.offers(Requirements(gpu_count=1))
    assert len(fake.requests) == asked


# ------------------------------------------------------------------ launch

def test_launch_inserts_a_labelled_vm_with_its_startup_script(fake):
    gcp = gcp_provider(fake)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    zone, name = instance.instance_id.split("/")
    assert zone == "us-central1-a" and name.startswith("aima-7-")
    [sent] = fake.calls("POST", "/zones/us-central1-a/instances")
    body = sent.body
    assert body["machineType"] == "zones/us-central1-a/machineTypes/g2-standard-8"
    assert "guestAccelerators" not in body  # a G2 type comes with its L4
    assert body["scheduling"] == {"onHostMaintenance": "TERMINATE", "automaticRestart": False,
                                  "provisioningModel": "STANDARD"}
    labels = body["labels"]
    assert labels["aima-deployment"] == "d1" and labels["aima-instance"] == "7"
    assert decode(labels[encode("Owner", key=True)]) == "Ops Team/EU"
    metadata = fake.metadata(instance.instance_id)
    assert json.loads(metadata["aima-tags"]) == dict(spec().tags)
    script = metadata["startup-script"]
    # The agent's container as a service, so that a stop and start (a pause) runs it again.
    assert script.startswith("#!/bin/bash") and "ghcr.io/aima/agent:1.4" in runner_of(script)
    assert script.endswith("systemctl enable --now aima-agent.service\n")
    assert f"{SHUTDOWN_ENV}=gcp" in script and f"{PREEMPTION_ENV}=gcp" in script
    assert "AIMA_AGENT_TOKEN=s3cr3t-agent-token" in script
    assert (instance.state, instance.price_per_hour, instance.tags) == (
        InstanceState.PENDING, 0.8454, dict(spec().tags))
    # The insert's operation was waited for: the VM runs.
    assert fake.calls("POST", "/wait") and gcp.describe(instance.instance_id).state == \
        InstanceState.RUNNING


def test_the_boot_image_and_the_agent_image_are_two_settings(fake):
    """AIMA_GCP_VM_IMAGE boots the VM; AIMA_GCP_IMAGE is the agent image the control
    plane hands the launch (Registry.agent_image), as for every provider."""
    gcp = gcp_provider(fake, vm_image="projects/p/global/images/family/gpu-base",
                       image="registry.example/aima/agent:2")
    instance = gcp.launch(offer_for(gcp, L4), spec(image="registry.example/aima/agent:2"))
    [sent] = fake.calls("POST", "/instances")
    [disk] = sent.body["disks"]
    assert disk["initializeParams"]["sourceImage"] == "projects/p/global/images/family/gpu-base"
    script = fake.metadata(instance.instance_id)["startup-script"]
    assert "registry.example/aima/agent:2" in runner_of(script) and "gpu-base" not in script


def test_a_spot_launch_asks_for_a_spot_vm_deleted_when_preempted(fake):
    gcp = gcp_provider(fake)
    instance = gcp.launch(offer_for(gcp, T4), spec(spot=True))
    [sent] = fake.calls("POST", "/instances")
    assert sent.body["scheduling"] == {
        "onHostMaintenance": "TERMINATE", "automaticRestart": False,
        "provisioningModel": "SPOT", "instanceTerminationAction": "DELETE"}
    assert sent.body["guestAccelerators"] == [{
        "acceleratorType": "zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4",
        "acceleratorCount": 1}]
    described = gcp.describe(instance.instance_id)
    assert (described.spot, described.price_per_hour) == (True, 0.216)
    assert described.address == "34.90.1.2" and described.launched_at is not None


def test_a_launch_without_a_boot_image_is_refused(fake):
    gcp = gcp_provider(fake, vm_image="")
    with pytest.raises(ProviderError, match="AIMA_GCP_VM_IMAGE"):
        gcp.launch(offer_for(gcp, L4), spec())
    assert not gcp.health().ok


def test_an_offer_from_another_provider_is_refused(fake):
    other = Offer(provider="aws", instance_type="g5.xlarge", gpu_model="A10G", vram_gb=24,
                  price_per_hour=1.0, offer_id="g5.xlarge:us-east-1a")
    with pytest.raises(ProviderError, match="not a GCP offer"):
        gcp_provider(fake).launch(other, spec())


# ------------------------------------------------------------------ list, terminate, pause

def test_list_finds_only_ours_carrying_every_tag(fake):
    gcp = gcp_provider(fake)
    mine = {gcp.launch(offer_for(gcp, L4), spec("d1")).instance_id for _ in range(2)}
    gcp.launch(offer_for(gcp, L4), spec("d2"))
    fake.instances[("us-central1-a", "by-hand")] = {
        **fake.instance(next(iter(mine))), "name": "by-hand", "metadata": {"items": []}}
    assert {i.instance_id for i in gcp.list_instances({"aima-deployment": "d1"})} == mine
    assert gcp.list_instances({"aima-deployment": "d1", "role": "worker"}) == []
    assert len(gcp.list_instances({})) == 3
    assert fake.calls("GET", "/aggregated/instances")[0].query["filter"] == \
        '(labels.aima-deployment = "d1")'


def test_a_just_created_instance_missing_from_a_list_is_no_error(fake):
    gcp = gcp_provider(fake)
    fake.hide_new_instances(1)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    assert gcp.list_instances({"aima-deployment": "d1"}) == []
    assert [i.instance_id for i in gcp.list_instances({"aima-deployment": "d1"})] == [
        instance.instance_id]


def test_terminate_twice_is_fine_and_the_vm_is_gone(fake):
    gcp = gcp_provider(fake)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    gcp.terminate(instance.instance_id)
    gcp.terminate(instance.instance_id)
    gcp.terminate("not-an-id")
    assert len(fake.calls("DELETE", instance.instance_id.split("/")[1])) == 2
    with pytest.raises(NotFoundError):
        gcp.describe(instance.instance_id)
    assert gcp.list_instances({"aima-deployment": "d1"}) == []


def test_stop_and_start(fake):
    gcp = gcp_provider(fake)
    assert gcp.supports_pause and isinstance(gcp, Provider)
    assert gcp.paused_price_per_hour(73) == pytest.approx(0.01)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    gcp.pause(instance.instance_id)
    assert fake.instance(instance.instance_id)["status"] == "TERMINATED"
    assert gcp.describe(instance.instance_id).state == InstanceState.STOPPED
    gcp.pause(instance.instance_id)  # already stopped: nothing to do
    assert len(fake.calls("POST", "/stop")) == 1
    gcp.resume(instance.instance_id)
    assert gcp.describe(instance.instance_id).state == InstanceState.RUNNING
    gcp.resume(instance.instance_id)
    assert len(fake.calls("POST", "/start")) == 1


def test_a_start_in_an_exhausted_zone_is_a_capacity_error(fake):
    gcp = gcp_provider(fake)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    gcp.pause(instance.instance_id)
    fake.exhaust("us-central1-a", "nvidia-l4")
    with pytest.raises(CapacityError):
        gcp.resume(instance.instance_id)
    assert gcp.describe(instance.instance_id).state == InstanceState.STOPPED


def test_resuming_a_stopping_vm_is_transient_and_unknown_ids_are_not_found(fake):
    gcp = gcp_provider(fake)
    instance = gcp.launch(offer_for(gcp, L4), spec())
    fake.set_status(instance.instance_id, "STOPPING")
    with pytest.raises(TransientError):
        gcp.resume(instance.instance_id)
    for action in (gcp.pause, gcp.resume, gcp.describe):
        with pytest.raises(NotFoundError):
            action("us-central1-a/never-existed")


# ------------------------------------------------------------------ errors

def test_an_exhausted_zone_is_a_capacity_error_and_leaves_no_vm(fake):
    gcp = gcp_provider(fake)
    offer = offer_for(gcp, L4)
    fake.exhaust("us-central1-a", "nvidia-l4")
    with pytest.raises(CapacityError, match="does not have enough resources"):
        gcp.launch(offer, spec())
    assert fake.instances == {}


def test_a_gpu_quota_is_a_quota_error(fake):
    gcp = gcp_provider(fake)
    offer = offer_for(gcp, T4)
    fake.quota["nvidia-tesla-t4"] = 0
    with pytest.raises(QuotaError, match="NVIDIA_T4_GPUS"):
        gcp.launch(offer, spec())


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (403, "quotaExceeded", QuotaError),
    (403, "forbidden", AuthError),
    (401, "authError", AuthError),
    (403, "rateLimitExceeded", TransientError),
    (429, "rateLimitExceeded", TransientError),
    (500, "backendError", TransientError),
    (503, "backendError", TransientError),
    (404, "notFound", NotFoundError),
    (400, "invalid", ProviderError),
])
def test_each_refusal_maps_to_its_kind(fake, status, reason, kind):
    gcp = gcp_provider(fake)
    fake.fail_next(status, reason)
    with pytest.raises(kind) as refused:
        gcp.list_instances({"aima-deployment": "d1"})
    assert type(refused.value) is kind and refused.value.__cause__ is None
    assert gcp.list_instances({"aima-deployment": "d1"}) == []  # the next call goes through


def test_a_wrong_or_missing_token_is_an_auth_error(fake):
    gcp = GcpProvider({"project": fake.project, "api_endpoint": fake.url,
                       "billing_endpoint": fake.url}, credentials=AnonymousCredentials())
    with pytest.raises(AuthError):
        gcp.offers(Requirements())
    health = gcp.health()
    assert not health.ok and "gcp" in health.message
    assert fake.requests[-1].status == 401


def test_a_billing_api_key_is_sent_and_never_shown(fake):
    gcp = gcp_provider(fake, billing_api_key=fake.api_key)
    assert gcp.offers(Requirements())
    assert all(r.query.get("key") == fake.api_key for r in fake.calls("GET", "/skus"))
    wrong = gcp_provider(fake, billing_api_key="AIzaWRONG0KEY")
    with pytest.raises(AuthError) as refused:
        wrong.offers(Requirements())
    assert "AIzaWRONG0KEY" not in str(refused.value)


def test_an_unreachable_api_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gcp = GcpProvider({"project": "p", "api_endpoint": f"http://127.0.0.1:{port}"},
                      credentials=AnonymousCredentials())
    with pytest.raises(TransientError):
        gcp.list_instances({})
    assert not gcp.health().ok


def test_health_asks_a_cheap_authenticated_question(fake):
    health = gcp_provider(fake).health()
    assert health.ok and "aima-test" in health.message
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == ["acceleratorTypes"]
    assert fake.requests[0].query["maxResults"] == "1"


# ------------------------------------------------------------------ settings, registry

def test_settings_are_checked_and_named():
    with pytest.raises(SettingsError, match="AIMA_GCP_PROJECT"):
        GcpProvider({}, credentials=AnonymousCredentials())
    with pytest.raises(SettingsError, match="AIMA_GCP_DISK_GB"):
        GcpProvider({"project": "p", "disk_gb": "big"}, credentials=AnonymousCredentials())
    with pytest.raises(SettingsError, match="AIMA_GCP_REGION"):
        GcpProvider({"project": "p", "region": "x"}, credentials=AnonymousCredentials())
    secret = '{"type": "service_account", "private_key": "NEVER-SHOWN"}'
    with pytest.raises(AuthError) as refused:
        GcpProvider({"project": "p", "credentials_json": secret})
    assert "NEVER-SHOWN" not in str(refused.value)


def service_account_key(fake) -> str:
    """A service-account key file's JSON, its token URI the fake's, and its
    public half given to the fake."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    email = f"aima-launcher@{fake.project}.iam.gserviceaccount.com"
    fake.accept_service_account(email, "k1", public)
    return json.dumps({"type": "service_account", "project_id": fake.project,
                       "private_key_id": "k1", "private_key": pem, "client_email": email,
                       "client_id": "1234567890", "token_uri": f"{fake.url}/token"})


def test_the_registry_loads_it_with_a_service_account_key(fake):
    loaded = registry.load(("gcp",), environ={
        "AIMA_GCP_PROJECT": fake.project, "AIMA_GCP_ZONES": "us-central1-a",
        "AIMA_GCP_CREDENTIALS_JSON": service_account_key(fake),
        "AIMA_GCP_API_ENDPOINT": fake.url, "AIMA_GCP_BILLING_ENDPOINT": fake.url,
        "AIMA_GCP_VM_IMAGE": "projects/aima-test/global/images/aima-agent-gpu"})
    gcp = loaded.get("gcp")
    assert isinstance(gcp, GcpProvider)
    assert L4 in {o.offer_id for o in gcp.offers(Requirements())}
    # Compute took the key's self-signed JWT; the billing session got a token for it.
    assert [r.status for r in fake.calls("POST", "/token")] == [200]
    assert all(r.status == 200 for r in fake.requests)


def test_the_registry_finds_it_through_its_entry_point():
    loaded = registry.load(("gcp",), environ={"AIMA_GCP_PROJECT": "p",
                                              "AIMA_GCP_CREDENTIALS_JSON": "{}"})
    assert "gcp" not in loaded.providers
    assert "AuthError" in loaded.broken["gcp"]
