"""The provider contract (``contract.py``), the same tests for every provider
through its harness (``harnesses.py``): offers of one shape that meet what was
asked, an instance found by its tag through listings that lag, idempotent
termination, typed errors, and pause only where it is a capability."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from providers.base import (
    INSTANCE_TAG,
    InstanceState,
    NotFoundError,
    NotSupportedError,
    Pausable,
    Provider,
    ProviderBase,
    Requirements,
)
from providers.matching import matches
from providers.registry import schema_of
from tests.providers.contract import ERRORS, list_until_found
from tests.providers.harnesses import HARNESSES as LOCAL_HARNESSES
from tests.providers.harnesses import KINDS_OF as LOCAL_KINDS
from tests.providers.harnesses_clouds import CLOUD_HARNESSES, CLOUD_KINDS

HARNESSES = {**LOCAL_HARNESSES, **CLOUD_HARNESSES}
KINDS_OF = {**LOCAL_KINDS, **CLOUD_KINDS}

ASKED = [
    Requirements(),
    Requirements(min_vram_gb=40),
    Requirements(spot=True),
    Requirements(spot=False, max_price_per_hour=1.0),
    Requirements(gpu_count=2),
    Requirements(min_cuda="12.8"),
    Requirements(min_reliability=0.99),
    Requirements(regions=("eu",)),
    Requirements(regions=("US",)),
]
# How many listings a just-created instance is left out of.
LAG = 2


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Iterator[Any]:
    with HARNESSES[request.param](tmp_path, monkeypatch) as made:
        yield made


def test_every_provider_is_a_provider_base_with_a_settings_schema(harness) -> None:
    provider = harness.provider
    assert isinstance(provider, ProviderBase) and isinstance(provider, Provider)
    assert provider.supports_pause == isinstance(provider, Pausable)
    schema = schema_of(type(provider))
    assert schema is not None
    assert "image" in {setting.name for setting in schema}


@pytest.mark.parametrize("asked", ASKED, ids=repr)
def test_offers_have_one_shape_and_meet_what_was_asked(harness, asked: Requirements) -> None:
    provider = harness.provider
    offers = provider.offers(asked)

    assert len({o.key for o in offers}) == len(offers)
    for offer in offers:
        assert offer.provider == provider.name
        assert offer.priced_at.utcoffset() is not None
        assert offer.price_per_hour > 0
        assert offer.spot_price_per_hour is None or offer.spot_price_per_hour > 0
        assert offer.gpu_count >= 1 and offer.vram_gb > 0
        assert matches(asked, offer), offer
    if asked == Requirements():
        assert offers, "a provider under test must offer something"


def test_a_launched_instance_is_found_by_its_tag_through_a_lagging_listing(harness) -> None:
    provider = harness.provider
    harness.hide_new_instances(LAG)

    launched = provider.launch(harness.offer(), harness.spec("contract-a"))
    other = provider.launch(harness.offer(), harness.spec("contract-b"))

    assert launched.provider == provider.name and launched.instance_id
    assert launched.state in (InstanceState.PENDING, InstanceState.RUNNING)
    assert launched.tags[INSTANCE_TAG] == "contract-a"
    found, listings = list_until_found(provider, "contract-a", LAG + 2)
    assert [i.instance_id for i in found] == [launched.instance_id]
    assert found[0].tags[INSTANCE_TAG] == "contract-a"
    # Listings that missed it were asked again rather than taken as its end.
    assert listings == (LAG + 1 if harness.hides else 1)
    found, _ = list_until_found(provider, "contract-b", LAG + 2)
    assert [i.instance_id for i in found] == [other.instance_id]


def test_terminate_is_idempotent_and_an_ended_instance_says_so(harness) -> None:
    provider = harness.provider
    launched = provider.launch(harness.offer(), harness.spec("contract-end"))

    provider.terminate(launched.instance_id)
    provider.terminate(launched.instance_id)
    provider.terminate(harness.unknown_id())
    provider.terminate("no-such-instance")  # not even of the provider's form

    # Gone from the vendor's books (NotFoundError) is as good as terminated.
    with contextlib.suppress(NotFoundError):
        assert provider.describe(launched.instance_id).state == InstanceState.TERMINATED
    assert provider.list_instances({INSTANCE_TAG: "contract-end"}) == []
    with pytest.raises(NotFoundError):
        provider.describe(harness.unknown_id())


@pytest.mark.parametrize(("name", "kind"), [(name, kind) for name, kinds in sorted(
    KINDS_OF.items()) for kind in kinds])
def test_each_way_a_vendor_says_no_is_its_typed_error(name: str, kind: str, tmp_path,
                                                      monkeypatch) -> None:
    with HARNESSES[name](tmp_path, monkeypatch) as harness:
        offer = harness.offer()
        harness.fail_next(kind)

        with pytest.raises(ERRORS[kind]) as refused:
            harness.provider.launch(offer, harness.spec("contract-refused"))

        assert type(refused.value) is ERRORS[kind]
        assert refused.value.retryable is (kind == "transient")
        if harness.fails_once:
            # The fault was the vendor's one answer: the same launch goes through now.
            again = harness.provider.launch(harness.offer(), harness.spec("contract-again"))
            assert again.instance_id


def test_pause_and_resume_only_where_the_provider_can(harness) -> None:
    provider = harness.provider
    launched = provider.launch(harness.offer(), harness.spec("contract-pause"))
    if not provider.supports_pause:
        with pytest.raises(NotSupportedError):
            provider.pause(launched.instance_id)
        with pytest.raises(NotSupportedError):
            provider.resume(launched.instance_id)
        return

    provider.pause(launched.instance_id)
    assert provider.describe(launched.instance_id).state == InstanceState.STOPPED
    assert provider.paused_price_per_hour(40) >= 0
    provider.resume(launched.instance_id)
    assert provider.describe(launched.instance_id).state in (InstanceState.PENDING,
                                                             InstanceState.RUNNING)
    provider.terminate(launched.instance_id)
