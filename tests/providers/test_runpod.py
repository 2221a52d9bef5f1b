"""The runpod provider: the real SDK against a local fake of RunPod's GraphQL API."""

from __future__ import annotations

import base64
import logging
import os
import re
import socket
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import runpod

from providers import registry
from providers.base import (
    AuthError,
    CapacityError,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    NotSupportedError,
    Offer,
    Provider,
    QuotaError,
    Requirements,
    TransientError,
)
from providers.runpod import BASE_URL_ENV, RunPodProvider
from tests.providers import fake_runpod
from tests.providers.fake_runpod import FakeRunPod

A100 = "NVIDIA A100 80GB PCIe"
RTX4090 = "NVIDIA GeForce RTX 4090"
A6000 = "NVIDIA RTX A6000"


@pytest.fixture
def fake() -> Iterator[FakeRunPod]:
    yield from fake_runpod.running()


def provider(fake: FakeRunPod, **settings: str) -> RunPodProvider:
    return RunPodProvider({"api_key": fake.api_key, "url": fake.url, **settings})


def spec(deployment: str = "d1", env_token: str = "t0k", **kw) -> LaunchSpec:
    return LaunchSpec(
        name="aima-agent-1", image="ghcr.io/aima/agent:1.4",
        env={"AIMA_AGENT_TOKEN": env_token, "NOTE": 'says "hi"\nand a backslash \\'},
        command="aima-agent --control https://aima.example --gpu 0 && echo 'done'",
        tags={"aima-deployment": deployment, "role": "agent"}, disk_gb=60, **kw)


def offer_for(rp: RunPodProvider, offer_id: str, **requirements) -> Offer:
    [offer] = [o for o in rp.offers(Requirements(**requirements)) if o.offer_id == offer_id]
    return offer


def decoded(docker_args: str) -> str:
    [encoded] = re.findall(r"echo ([A-Za-z0-9+/=]+) \| base64 -d", docker_args)
    return base64.b64decode(encoded).decode()


def as_env(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in items}


# ------------------------------------------------------------------ the SDK itself

def test_the_sdk_is_the_installed_package_not_this_module():
    import providers.runpod as module

    assert module.runpod is runpod
    assert "site-packages" in runpod.__file__
    assert callable(runpod.create_pod)


def test_calls_leave_the_sdks_global_key_and_url_as_they_were(fake, monkeypatch):
    monkeypatch.setattr(runpod, "api_key", "someone-elses-key")
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    provider(fake).offers(Requirements())
    assert runpod.api_key == "someone-elses-key"
    assert BASE_URL_ENV not in os.environ
    assert {r.auth for r in fake.requests} == {"bearer"}


def test_two_accounts_side_by_side_each_use_their_own_key_and_url(fake):
    with FakeRunPod(api_key="rpa_OTHER") as other:
        ours, theirs = provider(fake), provider(other)
        ours.launch(offer_for(ours, f"{A6000}:SECURE"), spec("ours"))
        theirs.launch(offer_for(theirs, f"{A6000}:SECURE"), spec("theirs"))
        assert [i.tags["aima-deployment"] for i in ours.list_instances({})] == ["ours"]
        assert [i.tags["aima-deployment"] for i in theirs.list_instances({})] == ["theirs"]


def test_providers_on_several_threads_keep_to_their_own_account(fake):
    with FakeRunPod(api_key="rpa_OTHER") as other:
        ours, theirs = provider(fake), provider(other)
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = list(pool.map(lambda rp: rp.offers(Requirements()),
                                 [ours, theirs] * 5))
        assert all(done)
        assert {r.status for r in fake.requests + other.requests} == {200}


# ------------------------------------------------------------------ offers

def test_offers_meet_the_requirements_with_on_demand_and_spot_prices(fake):
    rp = provider(fake)
    before = datetime.now(UTC)
    offers = {o.offer_id: o for o in rp.offers(Requirements(min_vram_gb=40))}
    assert set(offers) == {f"{A100}:SECURE", "NVIDIA A100-SXM4-80GB:SECURE",
                           f"{A6000}:SECURE", f"{A6000}:COMMUNITY"}
    a100 = offers[f"{A100}:SECURE"]
    assert (a100.provider, a100.gpu_model, a100.vram_gb, a100.gpu_count) == (
        "runpod", "A100 PCIe", 80, 1)
    assert (a100.price_per_hour, a100.spot_price_per_hour) == (1.64, 1.19)
    assert a100.region == "" and a100.cuda_version == "12.4" and a100.boot_s == 240
    assert before <= a100.priced_at <= datetime.now(UTC)
    assert offers["NVIDIA A100-SXM4-80GB:SECURE"].spot_price_per_hour is None
    assert offers[f"{A6000}:COMMUNITY"].price_per_hour == 0.49


def test_offers_filter_by_spot_price_and_cloud_type(fake):
    rp = provider(fake)
    spot = {o.offer_id for o in rp.offers(Requirements(min_vram_gb=40, spot=True))}
    assert "NVIDIA A100-SXM4-80GB:SECURE" not in spot and f"{A100}:SECURE" in spot
    cheap = {o.offer_id for o in rp.offers(Requirements(max_price_per_hour=0.5, spot=False))}
    assert cheap == {f"{A6000}:COMMUNITY"}
    cheap_spot = {o.offer_id for o in rp.offers(Requirements(max_price_per_hour=0.4, spot=True))}
    assert cheap_spot == {f"{RTX4090}:COMMUNITY", f"{A6000}:COMMUNITY"}
    # Either way of renting may meet the cap when the requirements do not say which.
    either = {o.offer_id for o in rp.offers(Requirements(max_price_per_hour=0.5))}
    assert f"{RTX4090}:SECURE" in either and f"{A100}:SECURE" not in either
    community = provider(fake, cloud_type="community").offers(Requirements())
    assert {o.offer_id.split(":")[1] for o in community} == {"COMMUNITY"}


def test_offers_for_several_gpus_are_priced_for_all_of_them(fake):
    [offer] = [o for o in provider(fake).offers(Requirements(gpu_count=4, min_vram_gb=80))
               if o.offer_id.startswith(A100)]
    assert offer.offer_id == f"{A100}:SECURE:4"
    assert (offer.gpu_count, offer.price_per_hour, offer.spot_price_per_hour) == (4, 6.56, 4.76)
    assert provider(fake).offers(Requirements(gpu_count=9)) == []


def test_offers_leave_out_what_is_not_free_or_not_in_a_region(fake):
    fake.exhaust(A6000, "COMMUNITY")
    ids = {o.offer_id for o in provider(fake).offers(Requirements(min_vram_gb=40))}
    assert f"{A6000}:COMMUNITY" not in ids and f"{A6000}:SECURE" in ids
    # RunPod chooses the machine, so no offer can promise a region.
    assert provider(fake).offers(Requirements(regions=("EU",))) == []


def test_offers_ask_for_prices_per_cloud_type_in_one_query(fake):
    provider(fake).offers(Requirements(gpu_count=2))
    [query] = [r.query for r in fake.requests]
    assert "secure: lowestPrice(input: {gpuCount: 2, secureCloud: true})" in query
    assert "community: lowestPrice(input: {gpuCount: 2, secureCloud: false})" in query


def test_offers_promise_at_least_the_cuda_asked_for(fake):
    [offer, *_] = provider(fake).offers(Requirements(min_cuda="12.8"))
    assert offer.cuda_version == "12.8"
    assert provider(fake).offers(Requirements())[0].cuda_version == "12.4"
    assert provider(fake, min_cuda="11.8").offers(Requirements())[0].cuda_version == "11.8"
    assert provider(fake).offers(Requirements(min_cuda="99.0")) == []


# ------------------------------------------------------------------ launch

def test_launch_on_demand_sends_image_env_command_disk_and_tags(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A6000}:SECURE")
    instance = rp.launch(offer, spec())
    assert fake.fields_asked()[-2:] == ["gpuTypes", "podFindAndDeployOnDemand"]
    [sent] = fake.calls("podFindAndDeployOnDemand")
    given = sent["input"]
    assert (given["imageName"], given["name"], given["gpuTypeId"], given["gpuCount"]) == (
        "ghcr.io/aima/agent:1.4", "aima-agent-1", A6000, 1)
    assert given["cloudType"] == "SECURE" and isinstance(given["cloudType"], fake_runpod.Enum)
    assert given["containerDiskInGb"] == 60 and given["volumeInGb"] == 0
    assert given["allowedCudaVersions"][0] == "12.4"
    env = as_env(given["env"])
    assert env["AIMA_AGENT_TOKEN"] == "t0k"
    assert env["NOTE"] == 'says "hi"\nand a backslash \\'
    assert env["AIMA_TAGS"] == "aima-deployment=d1&role=agent"
    assert env["AIMA_OFFER_ID"] == f"{A6000}:SECURE"
    assert env["AIMA_SHUTDOWN"] == "runpod"  # with the pod's own id and key
    assert decoded(given["dockerArgs"]) == spec().command
    assert (instance.state, instance.spot, instance.price_per_hour) == (
        InstanceState.PENDING, False, 0.76)
    assert instance.tags == {"aima-deployment": "d1", "role": "agent"}


def test_launch_spot_rents_an_interruptible_pod_at_the_bid(fake):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A100}:SECURE"), spec(spot=True))
    [sent] = fake.calls("podRentInterruptable")
    given = sent["input"]
    assert given["bidPerGpu"] == 1.19 and given["imageName"] == "ghcr.io/aima/agent:1.4"
    assert as_env(given["env"])["NOTE"] == 'says "hi"\nand a backslash \\'
    assert decoded(given["dockerArgs"]) == spec().command
    assert (instance.spot, instance.price_per_hour) == (True, 1.19)
    described = rp.describe(instance.instance_id)
    assert (described.spot, described.price_per_hour) == (True, 1.19)
    assert fake.calls("podFindAndDeployOnDemand") == []


def test_a_spot_bid_for_several_gpus_is_split_per_gpu(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A6000}:COMMUNITY:2", gpu_count=2)
    rp.launch(offer, spec(spot=True, bid_per_hour=0.8))
    [sent] = fake.calls("podRentInterruptable")
    assert (sent["input"]["bidPerGpu"], sent["input"]["gpuCount"]) == (0.4, 2)


# ------------------------------------------------------------------ describe, list

def test_describe_reports_what_the_pod_is(fake):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A6000}:SECURE"), spec())
    seen = rp.describe(instance.instance_id)
    assert (seen.state, seen.gpu_model, seen.price_per_hour, seen.address) == (
        InstanceState.RUNNING, "RTX A6000", 0.76, "203.0.113.7")
    assert seen.offer_id == f"{A6000}:SECURE" and seen.tags == instance.tags
    assert seen.launched_at is not None
    assert abs(seen.launched_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_list_finds_only_pods_carrying_every_tag(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A6000}:SECURE")
    mine = {rp.launch(offer, spec("d1")).instance_id for _ in range(2)}
    rp.launch(offer, spec("d2"))
    fake.add_pod("a notebook someone started by hand")
    assert {i.instance_id for i in rp.list_instances({"aima-deployment": "d1"})} == mine
    assert rp.list_instances({"aima-deployment": "d1", "role": "worker"}) == []
    assert len(rp.list_instances({})) == 3


@pytest.mark.parametrize(("status", "runtime", "state"), [
    ("RUNNING", False, InstanceState.PENDING),
    ("RUNNING", True, InstanceState.RUNNING),
    ("CREATED", False, InstanceState.PENDING),
    ("RESTARTING", False, InstanceState.PENDING),
    ("EXITED", False, InstanceState.STOPPED),
    ("PAUSED", False, InstanceState.STOPPED),
    ("DEAD", False, InstanceState.STOPPED),
    ("TERMINATED", False, InstanceState.TERMINATED),
])
def test_pod_status_maps_to_instance_state(fake, status, runtime, state):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A6000}:SECURE"), spec())
    fake.set_status(instance.instance_id, status, runtime=runtime)
    assert rp.describe(instance.instance_id).state == state


def test_an_outbid_spot_pod_is_stopped(fake):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A6000}:COMMUNITY"), spec(spot=True))
    fake.interrupt(instance.instance_id)
    assert rp.describe(instance.instance_id).state == InstanceState.STOPPED


# ------------------------------------------------------------------ terminate, pause

def test_terminate_twice_is_fine_and_the_pod_is_gone(fake):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A6000}:SECURE"), spec())
    rp.terminate(instance.instance_id)
    rp.terminate(instance.instance_id)
    rp.terminate("neverexisted00")
    assert fake.calls("podTerminate")[0]["input"] == {"podId": instance.instance_id}
    with pytest.raises(NotFoundError):
        rp.describe(instance.instance_id)
    assert rp.list_instances({"aima-deployment": "d1"}) == []


def test_stop_and_resume(fake):
    rp = provider(fake)
    assert rp.supports_pause and isinstance(rp, Provider)
    instance = rp.launch(offer_for(rp, f"{A6000}:SECURE"), spec())
    rp.pause(instance.instance_id)
    assert rp.describe(instance.instance_id).state == InstanceState.STOPPED
    rp.resume(instance.instance_id)
    assert rp.describe(instance.instance_id).state == InstanceState.RUNNING
    assert fake.calls("podResume")[0]["input"] == {"podId": instance.instance_id, "gpuCount": 1}
    rp.resume(instance.instance_id)  # already running: nothing to do
    assert len(fake.calls("podResume")) == 1


def test_a_spot_pod_resumes_by_bidding_again(fake):
    rp = provider(fake)
    instance = rp.launch(offer_for(rp, f"{A6000}:COMMUNITY"), spec(spot=True))
    rp.pause(instance.instance_id)
    rp.resume(instance.instance_id)
    assert fake.calls("podResume") == []
    assert fake.calls("podBidResume")[0]["input"] == {
        "podId": instance.instance_id, "bidPerGpu": 0.25, "gpuCount": 1}
    assert rp.describe(instance.instance_id).state == InstanceState.RUNNING


def test_pausing_or_resuming_an_unknown_pod_is_not_found(fake):
    rp = provider(fake)
    with pytest.raises(NotFoundError):
        rp.pause("neverexisted00")
    with pytest.raises(NotFoundError):
        rp.resume("neverexisted00")
    with pytest.raises(NotFoundError):
        rp.describe("../../etc")


# ------------------------------------------------------------------ errors

def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(fake):
    key = "rpa_WRONG0KEY0SHOULD0NEVER0SHOW"
    rp = RunPodProvider({"api_key": key, "url": fake.url})
    with pytest.raises(AuthError) as refused:
        rp.offers(Requirements())
    assert key not in str(refused.value) and "AIMA_RUNPOD_API_KEY" in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    health = rp.health()
    assert not health.ok and key not in health.message
    assert fake.requests[-1].status == 401


def test_a_failed_launch_logs_neither_the_key_nor_the_pods_env(fake, caplog):
    rp = provider(fake)
    offer = offer_for(rp, f"{RTX4090}:COMMUNITY")
    fake.exhaust(RTX4090)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CapacityError) as refused:
        rp.launch(offer, spec(env_token="s3cr3t-agent-token"))
    # The SDK's error carries the query text, env values and all: it must not be shown
    # as the cause when a log prints the traceback.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    shown = caplog.text + "".join(traceback.format_exception_only(refused.value))
    assert fake.api_key not in shown
    assert "s3cr3t-agent-token" not in shown


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_transient(fake, status):
    rp = provider(fake)
    fake.fail_next(status=status)
    with pytest.raises(TransientError) as failed:
        rp.offers(Requirements())
    assert failed.value.retryable and fake.api_key not in str(failed.value)
    assert rp.offers(Requirements())  # the next call goes through


def test_an_unreachable_api_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rp = RunPodProvider({"api_key": "rpa_UNREACHABLE", "url": f"http://127.0.0.1:{port}"})
    with pytest.raises(TransientError) as failed:
        rp.list_instances({})
    assert "rpa_UNREACHABLE" not in str(failed.value)
    assert not rp.health().ok


def test_no_capacity_is_a_capacity_error(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{RTX4090}:COMMUNITY")
    fake.exhaust(RTX4090)
    with pytest.raises(CapacityError, match="no longer any instances available"):
        rp.launch(offer, spec())
    with pytest.raises(CapacityError):
        rp.launch(offer, spec(spot=True))
    assert fake.pods == {}


def test_a_bid_under_the_lowest_price_finds_no_capacity(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A100}:SECURE")
    with pytest.raises(CapacityError):
        rp.launch(offer, spec(spot=True, bid_per_hour=0.5))


def test_spot_pods_gone_from_the_api_are_not_supported(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A6000}:COMMUNITY")
    fake.spot_removed = True
    with pytest.raises(NotSupportedError):
        rp.launch(offer, spec(spot=True))
    assert rp.launch(offer, spec()).instance_id


def test_a_low_balance_is_a_quota_error(fake):
    rp = provider(fake)
    offer = offer_for(rp, f"{A100}:SECURE")
    fake.balance = 0.5
    with pytest.raises(QuotaError):
        rp.launch(offer, spec())


def test_an_offer_from_another_provider_is_refused(fake):
    other = Offer(provider="vastai", instance_type="x", gpu_model="RTX 4090", vram_gb=24,
                  price_per_hour=0.3, offer_id="vastai:123")
    with pytest.raises(Exception, match="not a RunPod offer"):
        provider(fake).launch(other, spec())
    assert fake.requests == []


# ------------------------------------------------------------------ health, registry

def test_health_asks_a_cheap_authenticated_question(fake):
    health = provider(fake).health()
    assert health.ok and fake.url in health.message
    assert fake.fields_asked() == ["myself"]


def test_the_registry_loads_it_through_its_entry_point(fake):
    loaded = registry.load(("runpod",), environ={
        "AIMA_RUNPOD_API_KEY": fake.api_key, "AIMA_RUNPOD_URL": fake.url,
        "AIMA_RUNPOD_CLOUD_TYPE": "SECURE"})
    rp = loaded.get("runpod")
    assert isinstance(rp, RunPodProvider)
    assert loaded.settings["runpod"]["api_key"] == "••••"
    assert {o.offer_id.split(":")[1] for o in rp.offers(Requirements())} == {"SECURE"}


def test_a_missing_key_leaves_the_provider_broken_by_name():
    loaded = registry.load(("runpod",), environ={"AIMA_RUNPOD_URL": "http://127.0.0.1:9"})
    assert "runpod" not in loaded.providers
    assert loaded.broken["runpod"].startswith(
        "SettingsError: AIMA_RUNPOD_API_KEY is required")


def test_bad_settings_are_named_and_the_key_is_not_shown():
    with pytest.raises(ValueError, match="AIMA_RUNPOD_CLOUD_TYPE"):
        RunPodProvider({"api_key": "k", "cloud_type": "CHEAP"})
    with pytest.raises(ValueError, match="AIMA_RUNPOD_MIN_CUDA"):
        RunPodProvider({"api_key": "k", "min_cuda": "10.0"})
    with pytest.raises(ValueError, match="AIMA_RUNPOD_BOOT_S"):
        RunPodProvider({"api_key": "k", "boot_s": "soon"})
    assert "rpa_SECRET" not in repr(RunPodProvider({"api_key": "rpa_SECRET"}).config)
