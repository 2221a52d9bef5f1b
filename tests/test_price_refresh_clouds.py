"""The price refresh over the hyperscalers' fakes: GCP priced from the Cloud
Billing catalogue and Azure from the Retail Prices API, through the real SDKs,
each loaded from the environment as in production. Their offers and history
are stored; with GCP's API failing, its last good prices stay and placement
says it decided from them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aima_tasks.kernel.placement import Code
from aima_web.instances import offers, registry
from aima_web.placement import services
from aima_web.placement.models import CloudOffer, OfferPrice, PlacementPolicy, ProviderRefresh
from tests.providers import fake_azure, fake_gcp
from tests.providers.fake_azure_edges import CLIENT_ID, CLIENT_SECRET, TENANT
from tests.providers.test_gcp import service_account_key
from tests.test_price_history import SPEC

pytestmark = pytest.mark.django_db


@pytest.fixture
def gcp() -> Iterator[fake_gcp.FakeGcp]:
    yield from fake_gcp.running()


@pytest.fixture
def azure() -> Iterator[fake_azure.FakeAzure]:
    yield from fake_azure.running()


@pytest.fixture
def hyperscalers(monkeypatch, gcp, azure):
    environ = {
        "AIMA_PROVIDERS": "gcp,azure",
        "AIMA_GCP_PROJECT": gcp.project, "AIMA_GCP_ZONES": "us-central1-a,europe-west4-a",
        "AIMA_GCP_CREDENTIALS_JSON": service_account_key(gcp),
        "AIMA_GCP_API_ENDPOINT": gcp.url, "AIMA_GCP_BILLING_ENDPOINT": gcp.url,
        "AIMA_GCP_PRICE_TTL_S": "0",  # every refresh asks the catalogue again
        "AIMA_AZURE_SUBSCRIPTION_ID": fake_azure.SUBSCRIPTION,
        "AIMA_AZURE_RESOURCE_GROUP": fake_azure.RESOURCE_GROUP,
        "AIMA_AZURE_TENANT_ID": TENANT, "AIMA_AZURE_CLIENT_ID": CLIENT_ID,
        "AIMA_AZURE_CLIENT_SECRET": CLIENT_SECRET, "AIMA_AZURE_AUTHORITY_HOST": azure.url,
        "AIMA_AZURE_ARM_ENDPOINT": azure.url,
        "AIMA_AZURE_PRICES_ENDPOINT": f"{azure.url}/api/retail/prices",
        "AIMA_AZURE_CA_BUNDLE": str(azure.ca), "AIMA_AZURE_REGIONS": "eastus,westeurope",
        "AIMA_AZURE_RETRY_TOTAL": "0",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    registry.reload_providers()
    assert set(registry.providers().providers) == {"gcp", "azure"}, registry.providers().broken
    yield
    monkeypatch.delenv("AIMA_PROVIDERS")
    registry.reload_providers()


def stored(provider: str) -> dict[str, tuple[float, float | None, object]]:
    return {o.key: (o.price_per_hour, o.spot_price_per_hour, o.priced_at)
            for o in CloudOffer.objects.filter(provider=provider)}


def test_gcp_and_azure_offers_and_history_are_refreshed(hyperscalers):
    assert offers.refresh_offers() == {}
    for name in ("gcp", "azure"):
        rows = stored(name)
        assert rows, name
        # On-demand everywhere, spot where the catalogue prices it.
        assert all(price > 0 for price, _, _ in rows.values())
        assert any(spot is not None and 0 < spot < price for price, spot, _ in rows.values())
        history = OfferPrice.objects.filter(provider=name)
        assert history.count() == len(rows)
        assert {h.key for h in history} == set(rows)
        assert ProviderRefresh.objects.get(provider=name).offer_count == len(rows)


def test_with_gcp_failing_placement_uses_its_last_good_prices(hyperscalers, gcp):
    offers.refresh_offers()
    before = stored("gcp")
    azure_history = OfferPrice.objects.filter(provider="azure").count()
    gcp.fail_next(503, "backendError", count=20)

    failures = offers.refresh_offers()
    assert set(failures) == {"gcp"} and "TransientError" in failures["gcp"]
    assert stored("gcp") == before
    assert OfferPrice.objects.filter(provider="azure").count() == 2 * azure_history
    assert ProviderRefresh.objects.get(provider="gcp").failing

    policy = PlacementPolicy.current()
    policy.enabled_providers = ["gcp"]
    policy.save()
    decision = services.decide_for(SPEC)
    assert decision.placed and decision.choice.provider == "gcp"
    assert Code.LAST_GOOD_PRICES in decision.reasons
    [outage] = decision.last_good_prices
    assert outage.provider == "gcp" and outage.error == failures["gcp"]
