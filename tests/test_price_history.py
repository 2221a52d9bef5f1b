"""Live prices with history: a refresh against the fake Vast.ai and RunPod APIs
(the real SDKs) stores offers and their price history; a provider whose API
fails keeps its last good prices, which placement uses and says so until they
are too old."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.classification import Confidentiality
from aima_tasks.kernel.placement import Code, JobSpec
from aima_tasks.kernel.placement.decision import Decision
from aima_web.access.roles import Role
from aima_web.audit.models import AuditEvent
from aima_web.instances import offers, registry
from aima_web.placement import prices, services
from aima_web.placement.html import decision_html
from aima_web.placement.models import CloudOffer, OfferPrice, PlacementPolicy, ProviderRefresh
from tests.conftest import client_for
from tests.placing import run_to_queue
from tests.providers import fake_runpod
from tests.providers.fake_vastai import API_KEY as VAST_KEY
from tests.providers.fake_vastai import FakeVastAi
from tests.test_api_jobs import submit

pytestmark = pytest.mark.django_db

SPEC = JobSpec(media_type=MediaType.IMAGE, size_bytes=1_000_000, analyses=(),
               confidentiality=Confidentiality.PUBLIC)


@pytest.fixture
def vast() -> Iterator[FakeVastAi]:
    with FakeVastAi() as fake:
        yield fake


@pytest.fixture
def runpod() -> Iterator[fake_runpod.FakeRunPod]:
    yield from fake_runpod.running()


@pytest.fixture
def clouds(monkeypatch, vast, runpod):
    """Both providers enabled, each talking to its fake API. Neither provider
    retries a 500, so ``fail_next()`` fails one refresh of it."""
    monkeypatch.setenv("AIMA_PROVIDERS", "vastai,runpod")
    monkeypatch.setenv("AIMA_VASTAI_API_KEY", VAST_KEY)
    monkeypatch.setenv("AIMA_VASTAI_URL", vast.url)
    monkeypatch.setenv("AIMA_VASTAI_TIMEOUT_S", "5")
    monkeypatch.setenv("AIMA_RUNPOD_API_KEY", runpod.api_key)
    monkeypatch.setenv("AIMA_RUNPOD_URL", runpod.url)
    registry.reload_providers()
    assert set(registry.providers().providers) == {"vastai", "runpod"}
    yield
    monkeypatch.delenv("AIMA_PROVIDERS")
    registry.reload_providers()


def only(provider: str) -> None:
    """Placement may use this provider alone, so that its offer wins."""
    policy = PlacementPolicy.current()
    policy.enabled_providers = [provider]
    policy.save()


def stored(provider: str) -> dict[str, tuple[float, object]]:
    return {o.key: (o.price_per_hour, o.priced_at)
            for o in CloudOffer.objects.filter(provider=provider)}


# ---------------------------------------------------------------- refresh and history

def test_a_refresh_stores_offers_and_their_history(clouds):
    assert offers.refresh_offers() == {}
    counts = {name: CloudOffer.objects.filter(provider=name).count()
              for name in ("vastai", "runpod")}
    assert all(counts.values())
    assert OfferPrice.objects.count() == sum(counts.values())
    for name, count in counts.items():
        status = ProviderRefresh.objects.get(provider=name)
        assert (status.failing, status.offer_count, status.failures) == (False, count, 0)
        assert status.last_success_at == status.last_attempt_at
    offers.refresh_offers()
    # One history row per offer per refresh; the offers themselves are replaced.
    assert CloudOffer.objects.count() == sum(counts.values())
    assert OfferPrice.objects.count() == 2 * sum(counts.values())
    key = CloudOffer.objects.filter(provider="runpod").first().key
    first, second = prices.history(key=key)[:2]
    assert first.priced_at > second.priced_at
    assert first.price_per_hour == CloudOffer.objects.get(key=key).price_per_hour


def test_history_older_than_the_retention_is_pruned(clouds, settings):
    settings.AIMA_PRICE_HISTORY_DAYS = 30
    old = OfferPrice.objects.create(key="vastai:old", provider="vastai", gpu_model="RTX4090",
                                    price_per_hour=0.5,
                                    priced_at=timezone.now() - timedelta(days=31))
    recent = OfferPrice.objects.create(key="vastai:recent", provider="vastai",
                                       gpu_model="RTX4090", price_per_hour=0.5,
                                       priced_at=timezone.now() - timedelta(days=29))
    offers.refresh_offers()
    assert not OfferPrice.objects.filter(pk=old.pk).exists()
    assert OfferPrice.objects.filter(pk=recent.pk).exists()


# ---------------------------------------------------------------- a failing provider

def test_a_failing_provider_keeps_its_offers_and_is_flagged(clouds, runpod):
    offers.refresh_offers()
    before = stored("runpod")
    history = OfferPrice.objects.filter(provider="runpod").count()
    runpod.fail_next()

    failures = offers.refresh_offers()
    assert set(failures) == {"runpod"}
    assert stored("runpod") == before
    assert OfferPrice.objects.filter(provider="runpod").count() == history
    status = ProviderRefresh.objects.get(provider="runpod")
    assert status.failing and status.failures == 1 and status.last_error == failures["runpod"]
    assert status.last_success_at < status.failing_since
    assert "last good prices from" in status.status()
    assert "refresh failing since" in status.status()
    assert not ProviderRefresh.objects.get(provider="vastai").failing

    runpod.fail_next()
    offers.refresh_offers()  # still down: counted, not audited again
    status.refresh_from_db()
    assert status.failures == 2
    failed = AuditEvent.objects.filter(action="offers.refresh_failed")
    assert [(e.subject, e.detail["offers_kept"]) for e in failed] == [
        ("provider:runpod", len(before))]

    assert offers.refresh_offers() == {}
    status.refresh_from_db()
    assert (status.failing, status.failures, status.last_error) == (False, 0, "")
    recovered = AuditEvent.objects.get(action="offers.refresh_recovered")
    assert recovered.detail["failures"] == 2


def test_placement_decides_from_last_good_prices_and_says_so(clouds, runpod):
    offers.refresh_offers()
    only("runpod")
    assert Code.LAST_GOOD_PRICES not in services.decide_for(SPEC).reasons
    runpod.fail_next()
    failures = offers.refresh_offers()

    decision = services.decide_for(SPEC)
    assert decision.placed and decision.choice.provider == "runpod"
    assert decision.choice.offer_id in stored("runpod")
    assert Code.LAST_GOOD_PRICES in decision.reasons
    (outage,) = decision.last_good_prices
    newest = max(priced_at for _, priced_at in stored("runpod").values())
    status = ProviderRefresh.objects.get(provider="runpod")
    assert outage.provider == "runpod" and outage.error == failures["runpod"]
    assert outage.priced_at == newest.isoformat()
    assert outage.failing_since == status.failing_since.isoformat()
    assert "last good ones" in decision.reason
    # The record as a job stores it, read back and shown in the admin.
    record = decision.to_dict()
    assert Decision.from_dict(record) == decision
    page = decision_html(record, "USD")
    assert "last good prices" in page and "refresh failing since" in page


def test_last_good_prices_past_the_stale_age_are_not_used(clouds, runpod):
    offers.refresh_offers()
    only("runpod")
    runpod.fail_next()
    offers.refresh_offers()
    max_age = PlacementPolicy.current().max_price_age_s
    later = timezone.localtime() + timedelta(seconds=max_age + 60)
    decision = services.decide_for(SPEC, now=later)
    assert not decision.placed
    assert decision.excluded.get(Code.STALE_PRICE) == len(stored("runpod"))
    assert decision.last_good_prices == ()


def test_an_alternative_on_last_good_prices_is_flagged_too(clouds, vast):
    offers.refresh_offers()
    vast.fail_next()
    offers.refresh_offers()
    decision = services.decide_for(SPEC)
    weighed = {decision.choice.provider} | {a.option.provider for a in decision.alternatives}
    assert "vastai" in weighed
    assert [o.provider for o in decision.last_good_prices] == ["vastai"]
    assert Code.LAST_GOOD_PRICES in decision.reasons


def test_a_job_placed_while_its_provider_fails_records_it(clouds, runpod, api, image_file):
    offers.refresh_offers()
    only("runpod")
    runpod.fail_next()
    offers.refresh_offers()
    job = run_to_queue(submit(api, image_file.path, confidentiality="public").json()["id"])
    assert job.placement["scope"] == "cloud"
    assert job.placement["choice"]["provider"] == "runpod"
    assert "last_good_prices" in job.placement["reasons"]
    assert [o["provider"] for o in job.placement["last_good_prices"]] == ["runpod"]


# ---------------------------------------------------------------- where people see it

def test_the_price_history_api(clouds, make_user):
    offers.refresh_offers()
    offers.refresh_offers()
    key = CloudOffer.objects.filter(provider="vastai").first().key
    operator = client_for(make_user("olga", role=Role.OPERATOR))
    rows = operator.get("/api/v1/prices/", {"key": key}).json()["results"]
    assert len(rows) == 2 and {r["key"] for r in rows} == {key}
    assert rows[0]["priced_at"] > rows[1]["priced_at"]
    by_provider = operator.get("/api/v1/prices/", {"provider": "runpod"}).json()
    assert by_provider["count"] == 2 * CloudOffer.objects.filter(provider="runpod").count()
    unfiltered = operator.get("/api/v1/prices/", {"provider": "", "gpu_model": ""}).json()
    assert unfiltered["count"] == OfferPrice.objects.count()
    assert operator.get("/api/v1/prices/", {"since": "yesterday"}).status_code == 400
    analyst = client_for(make_user("ann", role=Role.ANALYST))
    assert analyst.get("/api/v1/prices/").status_code == 403


def test_the_admin_shows_refresh_status_and_history(clouds, runpod, client, make_user):
    offers.refresh_offers()
    runpod.fail_next()
    offers.refresh_offers()
    client.force_login(make_user("olga", staff=True, role=Role.OPERATOR))
    listing = client.get("/admin/placement/cloudoffer/").content.decode()
    assert "Price refresh by provider" in listing
    assert "last good prices from" in listing and "refresh failing since" in listing
    assert "last good (refresh failing since" in listing
    offer = CloudOffer.objects.filter(provider="runpod").first()
    page = client.get(f"/admin/placement/cloudoffer/{offer.pk}/change/").content.decode()
    assert "1 price(s) recorded" in page


def test_the_refresh_command_says_placement_keeps_the_last_good_prices(clouds, runpod):
    call_command("aima_offers", "refresh", stdout=StringIO(), stderr=StringIO())
    runpod.fail_next()
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="some providers gave no offers"):
        call_command("aima_offers", "refresh", stdout=out, stderr=err)
    assert "runpod: offers not refreshed" in err.getvalue()
    assert "runpod: placement keeps deciding from its last good prices from" in err.getvalue()
    assert "vastai" in out.getvalue()
