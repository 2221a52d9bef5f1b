"""The Vast.ai provider, running the real SDK against a fake Vast.ai API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from providers import registry
from providers.base import (
    DEPLOYMENT_TAG,
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
from providers.vastai import VastAiProvider, decode_label, encode_label, state_of
from tests.providers.fake_vastai import API_KEY, FakeVastAi, serve


@pytest.fixture
def fake() -> Iterator[FakeVastAi]:
    yield from serve()


@pytest.fixture
def vast(fake: FakeVastAi) -> VastAiProvider:
    return VastAiProvider({"api_key": API_KEY, "url": fake.url, "timeout_s": "5"})


def spec(deployment: str = "prod", name: str = "agent-1", **changes: object) -> LaunchSpec:
    values: dict[str, object] = {
        "name": name, "image": "ghcr.io/aima/agent:1.4", "env": {"AIMA_URL": "https://aima.example",
                                                                "AIMA_TOKEN": "t0k"},
        "command": "aima-agent --work", "tags": {DEPLOYMENT_TAG: deployment}, "disk_gb": 60,
    }
    return LaunchSpec(**{**values, **changes})  # type: ignore[arg-type]


def offer_of(vast: VastAiProvider, offer_id: str, **requirements: object) -> Offer:
    found = {o.offer_id: o for o in vast.offers(Requirements(**requirements))}  # type: ignore[arg-type]
    return found[offer_id]


# ---- offers


def test_offers_meet_the_requirements_and_carry_what_placement_needs(vast: VastAiProvider) -> None:
    offers = vast.offers(Requirements(min_vram_gb=24, min_cuda="12.2", min_reliability=0.95))

    # 1003 has two GPUs, 1004 is unreliable, 1007 small and old, 1008 unverified.
    assert sorted(o.offer_id for o in offers) == ["1001", "1002", "1005", "1006"]
    spain = next(o for o in offers if o.offer_id == "1001")
    assert spain.provider == "vastai"
    assert spain.instance_type == "1x-RTX_4090"
    assert spain.gpu_model == "RTX 4090"
    assert (spain.vram_gb, spain.gpu_count) == (24.0, 1)
    assert spain.price_per_hour == pytest.approx(0.40, abs=0.01)  # plus 40 GB of disk
    assert spain.spot_price_per_hour == pytest.approx(0.22)
    assert (spain.region, spain.cuda_version, spain.reliability) == ("EU-ES", "12.4", 0.995)
    assert spain.bandwidth_mbps == 850.0
    assert spain.boot_s == 300.0
    assert datetime.now(UTC) - spain.priced_at < timedelta(seconds=30)
    assert next(o for o in offers if o.offer_id == "1006").vram_gb == 80.0


def test_offers_are_filtered_by_the_server_through_the_sdk_query(
        vast: VastAiProvider, fake: FakeVastAi) -> None:
    vast.offers(Requirements(min_vram_gb=24, min_cuda="12.1", min_reliability=0.9,
                             spot=False, max_price_per_hour=1.0))

    [search] = fake.requests_to("POST", "/api/v0/bundles/")
    query = search.body
    assert query["num_gpus"] == {"eq": "1"}
    assert query["gpu_ram"]["gte"] <= 24564  # an RTX 4090 passes
    assert query["gpu_ram"]["gte"] > 23028  # a 22 GB A10 does not
    assert query["cuda_max_good"] == {"gte": "12.1"}
    assert query["reliability"] == {"gte": "0.9"}
    assert query["dph_total"] == {"lte": "1"}
    assert query["verified"] == {"eq": True}  # the SDK's own defaults stay
    assert query["type"] == "on-demand"
    assert query["order"] == [["dph_total", "asc"]]
    assert query["allocated_storage"] == 40.0


def test_offers_are_checked_again_when_the_server_ignores_filters(
        vast: VastAiProvider, fake: FakeVastAi) -> None:
    everything = [dict(a, dph_total=a["dph_base"]) for a in fake.asks.values()]
    fake.fail_next(status=200, body={"offers": everything}, path="/api/v0/bundles/")

    offers = vast.offers(Requirements(min_vram_gb=24, min_cuda="12.2", min_reliability=0.95))

    # The one rule (providers.matching): at least as many GPUs, so the two-GPU
    # ask 1003 meets a one-GPU requirement once the server lets it through.
    assert sorted(o.offer_id for o in offers) == ["1001", "1002", "1003", "1005", "1006",
                                                  "1008"]


def test_spot_prices_only_when_asked_and_offered(vast: VastAiProvider, fake: FakeVastAi) -> None:
    on_demand = vast.offers(Requirements(spot=False))
    assert on_demand and all(o.spot_price_per_hour is None for o in on_demand)

    spot = vast.offers(Requirements(spot=True, max_price_per_hour=0.21))
    assert sorted(o.offer_id for o in spot) == ["1002", "1004"]
    assert fake.requests[-1].body["type"] == "bid"
    assert fake.requests[-1].body["min_bid"] == {"lte": "0.21"}

    # The two-GPU ask takes no bids: it is offered on demand only.
    assert vast.offers(Requirements(gpu_count=2, spot=True)) == []
    [either] = vast.offers(Requirements(gpu_count=2))
    assert (either.offer_id, either.spot_price_per_hour) == ("1003", None)


def test_offers_by_region(vast: VastAiProvider, fake: FakeVastAi) -> None:
    germany = vast.offers(Requirements(regions=("EU-DE",)))
    assert sorted(o.offer_id for o in germany) == ["1004", "1005"]
    assert fake.requests[-1].body["geolocation"] == {"in": ["DE"]}

    europe = vast.offers(Requirements(regions=("EU",)))
    assert sorted(o.offer_id for o in europe) == ["1001", "1004", "1005", "1006"]
    # Region prefixes match case-insensitively.
    lower = vast.offers(Requirements(regions=("eu",)))
    assert sorted(o.offer_id for o in lower) == ["1001", "1004", "1005", "1006"]


# ---- launch


def test_launch_sends_image_env_onstart_label_and_disk(vast: VastAiProvider,
                                                       fake: FakeVastAi) -> None:
    offer = offer_of(vast, "1001", min_vram_gb=24)

    instance = vast.launch(offer, spec())

    [rent] = fake.requests_to("PUT", "/api/v0/asks/")
    assert rent.path == "/api/v0/asks/1001/"
    body = rent.body
    assert body["image"] == "ghcr.io/aima/agent:1.4"
    assert body["env"] == {"AIMA_URL": "https://aima.example", "AIMA_TOKEN": "t0k",
                           "AIMA_SHUTDOWN": "vastai"}
    assert body["onstart"] == "aima-agent --work"
    assert body["label"] == "aima-deployment=prod;name=agent-1"
    assert body["disk"] == 60
    assert body["price"] is None  # on demand
    assert body["runtype"] == "ssh_proxy"  # runs onstart after Vast's entrypoint
    assert body["cancel_unavail"] is True
    assert instance.state == InstanceState.PENDING
    assert instance.instance_id == str(max(fake.instances))
    assert instance.tags == {DEPLOYMENT_TAG: "prod", "name": "agent-1"}
    assert (instance.offer_id, instance.spot) == ("1001", False)


def test_spot_launch_bids_the_offers_price_or_the_given_bid(vast: VastAiProvider,
                                                            fake: FakeVastAi) -> None:
    first = vast.launch(offer_of(vast, "1001"), spec(spot=True))
    second = vast.launch(offer_of(vast, "1002"), spec(name="agent-2", spot=True,
                                                      bid_per_hour=0.31))

    bids = [r.body["price"] for r in fake.requests_to("PUT", "/api/v0/asks/")]
    assert bids == [pytest.approx(0.22), pytest.approx(0.31)]
    assert (first.spot, first.price_per_hour) == (True, pytest.approx(0.22))
    assert vast.describe(second.instance_id).spot is True


def test_spot_launch_of_an_offer_without_bids_is_refused_before_renting(
        vast: VastAiProvider, fake: FakeVastAi) -> None:
    two_gpus = offer_of(vast, "1003", gpu_count=2)

    with pytest.raises(ProviderError, match="no interruptible price"):
        vast.launch(two_gpus, spec(spot=True))
    assert fake.requests_to("PUT", "/api/v0/asks/") == []


def test_an_offer_from_another_provider_is_refused(vast: VastAiProvider) -> None:
    other = Offer(provider="runpod", instance_type="1x-RTX_4090", gpu_model="RTX 4090",
                  vram_gb=24, price_per_hour=0.4, offer_id="abc")
    with pytest.raises(ProviderError, match=r"not a Vast\.ai ask"):
        vast.launch(other, spec())


# ---- describe, list, terminate, pause


def test_describe_and_list_by_tag(vast: VastAiProvider, fake: FakeVastAi) -> None:
    a1 = vast.launch(offer_of(vast, "1001"), spec("prod", "agent-1"))
    a2 = vast.launch(offer_of(vast, "1004"), spec("prod", "agent-2"))
    vast.launch(offer_of(vast, "1005"), spec("staging", "agent-1"))
    fake.add_instance(label="my own box")
    fake.set_status(int(a1.instance_id), "running")

    prod = vast.list_instances({DEPLOYMENT_TAG: "prod"})
    assert sorted(i.instance_id for i in prod) == sorted([a1.instance_id, a2.instance_id])
    assert [i.tags["name"] for i in vast.list_instances({DEPLOYMENT_TAG: "staging"})] == [
        "agent-1"]
    assert [i.instance_id for i in vast.list_instances(
        {DEPLOYMENT_TAG: "prod", "name": "agent-2"})] == [a2.instance_id]

    running = vast.describe(a1.instance_id)
    assert running.state == InstanceState.RUNNING
    assert running.gpu_model == "RTX 4090"
    assert running.address.startswith("203.0.113.")
    assert running.launched_at is not None
    assert vast.describe(a2.instance_id).state == InstanceState.PENDING


def test_list_follows_the_sdks_pages(vast: VastAiProvider, fake: FakeVastAi) -> None:
    for n in range(30):
        fake.add_instance(label=encode_label({DEPLOYMENT_TAG: "prod", "name": f"a{n}"}))

    assert len(vast.list_instances({DEPLOYMENT_TAG: "prod"})) == 30
    assert len(fake.requests_to("GET", "/api/v1/instances/")) == 2


def test_terminate_twice_is_fine(vast: VastAiProvider, fake: FakeVastAi) -> None:
    instance = vast.launch(offer_of(vast, "1001"), spec())

    vast.terminate(instance.instance_id)
    vast.terminate(instance.instance_id)
    vast.terminate("not-a-vast-id")

    assert [r.path for r in fake.requests_to("DELETE", "/api/v0/instances/")] == [
        f"/api/v0/instances/{instance.instance_id}/"] * 2
    with pytest.raises(NotFoundError):
        vast.describe(instance.instance_id)
    assert vast.list_instances({DEPLOYMENT_TAG: "prod"}) == []


def test_pause_and_resume(vast: VastAiProvider, fake: FakeVastAi) -> None:
    instance = vast.launch(offer_of(vast, "1001"), spec())
    fake.set_status(int(instance.instance_id), "running")

    vast.pause(instance.instance_id)
    assert vast.describe(instance.instance_id).state == InstanceState.STOPPED
    vast.resume(instance.instance_id)
    assert vast.describe(instance.instance_id).state == InstanceState.PENDING

    states = [r.body for r in fake.requests_to("PUT", "/api/v0/instances/")]
    assert states == [{"state": "stopped"}, {"state": "running"}]
    assert vast.supports_pause is True


@pytest.mark.parametrize(("row", "state"), [
    ({"actual_status": None, "intended_status": "running"}, InstanceState.PENDING),
    ({"actual_status": "created"}, InstanceState.PENDING),
    ({"actual_status": "loading"}, InstanceState.PENDING),
    ({"actual_status": "running"}, InstanceState.RUNNING),
    ({"actual_status": "running", "intended_status": "stopped"}, InstanceState.RUNNING),
    ({"actual_status": "loading", "intended_status": "stopped"}, InstanceState.STOPPED),
    ({"actual_status": "exited"}, InstanceState.STOPPED),
    ({"actual_status": "stopped"}, InstanceState.STOPPED),
    ({"actual_status": "offline"}, InstanceState.UNKNOWN),
    ({"actual_status": "something new"}, InstanceState.UNKNOWN),
])
def test_vast_states(row: dict[str, object], state: InstanceState) -> None:
    assert state_of(row) == state


def test_labels_carry_any_tag_values() -> None:
    tags = {DEPLOYMENT_TAG: "a;b=c", "name": "agent 1", "owner": "ops%team"}
    assert decode_label(encode_label(tags)) == tags
    assert decode_label("my own box") == {}
    assert decode_label("training;x=1") == {}
    assert decode_label(None) == {}


# ---- errors


def test_a_wrong_key_is_an_auth_error_that_does_not_show_the_key(fake: FakeVastAi) -> None:
    wrong = "wrong-key-3c9d1e"
    vast = VastAiProvider({"api_key": wrong, "url": fake.url})

    with pytest.raises(AuthError) as caught:
        vast.offers(Requirements())
    assert "401" in str(caught.value) and "AIMA_VASTAI_API_KEY" in str(caught.value)
    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    health = vast.health()
    assert not health.ok and wrong not in health.message
    assert fake.requests[0].authorization == f"Bearer {wrong}"  # how the SDK sends it


def test_the_key_is_scrubbed_from_what_the_server_says(vast: VastAiProvider,
                                                       fake: FakeVastAi) -> None:
    fake.fail_next(status=400, body={"error": "invalid_args", "msg": f"bad request {API_KEY}"})

    with pytest.raises(ProviderError) as caught:
        vast.describe("7000001")
    assert API_KEY not in str(caught.value)
    assert all(API_KEY not in r.path and API_KEY not in str(r.query) for r in fake.requests)


def test_a_server_error_is_transient(vast: VastAiProvider, fake: FakeVastAi) -> None:
    fake.fail_next(status=500)

    with pytest.raises(TransientError) as caught:
        vast.offers(Requirements())
    assert caught.value.retryable


def test_rate_limits_are_retried_by_the_sdk_then_transient(vast: VastAiProvider,
                                                           fake: FakeVastAi) -> None:
    fake.fail_next(count=1, status=429, body="API requests too frequent")
    assert vast.offers(Requirements())  # the SDK's retry got through

    fake.fail_next(count=3, status=429, body="API requests too frequent")
    with pytest.raises(TransientError, match="429"):
        vast.offers(Requirements())
    assert len(fake.requests_to("POST", "/api/v0/bundles/")) == 5


def test_an_unreachable_server_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vast = VastAiProvider({"api_key": API_KEY, "url": f"http://127.0.0.1:{port}",
                           "retries": "1"})

    with pytest.raises(TransientError, match="ConnectionError"):
        vast.describe("1")


def test_a_taken_ask_is_a_capacity_error(vast: VastAiProvider, fake: FakeVastAi) -> None:
    offer = offer_of(vast, "1001")
    fake.take(1001)

    with pytest.raises(CapacityError, match="no_such_ask"):
        vast.launch(offer, spec())

    fake.fail_next(status=400, body={"success": False, "error": "no_such_ask",
                                     "msg": "Instance type by id 1002 is not available."})
    with pytest.raises(CapacityError):
        vast.launch(offer_of(vast, "1002"), spec())


def test_no_credit_is_a_quota_error(vast: VastAiProvider, fake: FakeVastAi) -> None:
    offer = offer_of(vast, "1001")
    fake.credit = 0.0

    with pytest.raises(QuotaError, match="insufficient_credit"):
        vast.launch(offer, spec())
    assert not vast.health().ok


def test_an_unknown_instance_is_not_found(vast: VastAiProvider) -> None:
    with pytest.raises(NotFoundError):
        vast.describe("7999999")
    with pytest.raises(NotFoundError):
        vast.pause("7999999")
    with pytest.raises(NotFoundError):
        vast.resume("not-a-vast-id")


def test_health(vast: VastAiProvider, fake: FakeVastAi) -> None:
    health = vast.health()

    assert health.ok
    assert "aima-test" in health.message and "25.00" in health.message
    assert API_KEY not in health.message
    assert fake.requests[-1].path == "/api/v0/users/current"


# ---- loading


def test_loads_through_the_entry_point(fake: FakeVastAi) -> None:
    loaded = registry.load(("vastai",), environ={"AIMA_VASTAI_API_KEY": API_KEY,
                                                 "AIMA_VASTAI_URL": fake.url})

    vast = loaded.get("vastai")
    assert isinstance(vast, VastAiProvider) and isinstance(vast, Provider)
    assert loaded.settings["vastai"]["api_key"] != API_KEY
    assert vast.health().ok


def test_a_missing_key_leaves_vastai_broken_with_a_clear_message() -> None:
    loaded = registry.load(("vastai",), environ={"VAST_API_KEY": "not-ours"})

    assert "vastai" not in loaded.providers
    assert loaded.broken["vastai"] == "SettingsError: AIMA_VASTAI_API_KEY is required: " \
                                      "a Vast.ai API key"


def test_a_bad_setting_is_named() -> None:
    loaded = registry.load(("vastai",), environ={"AIMA_VASTAI_API_KEY": API_KEY,
                                                 "AIMA_VASTAI_TIMEOUT_S": "soon"})

    assert "AIMA_VASTAI_TIMEOUT_S" in loaded.broken["vastai"]
