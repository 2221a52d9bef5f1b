"""The stored placement policy and local GPU costs: defaults, validation, audit."""

from __future__ import annotations

from dataclasses import fields

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from aima_tasks.kernel.classification import Urgency
from aima_tasks.kernel.placement import Policy, Strategy
from aima_web.audit.models import AuditEvent
from aima_web.placement.models import PlacementPolicy
from tests.placing import make_gpu

pytestmark = pytest.mark.django_db

CHANGE_URL = "/admin/placement/placementpolicy/1/change/"


def policy_form(policy: PlacementPolicy, **changes: str) -> dict[str, str]:
    """The change form as a browser sends it, with ``changes`` typed in."""
    form = {f.name: "" if getattr(policy, f.name) is None else str(getattr(policy, f.name))
            for f in PlacementPolicy._meta.fields if f.name not in ("id", "updated_at")}
    form["provider_order"] = ", ".join(policy.provider_order)
    form["enabled_providers"] = ", ".join(policy.enabled_providers)
    form.pop("spot_urgencies")
    return {**form, **changes}


def test_defaults_are_the_engines():
    assert PlacementPolicy.current().to_policy() == Policy()


def test_every_engine_setting_is_stored():
    stored = {f.name for f in PlacementPolicy._meta.fields}
    assert {f.name for f in fields(Policy)} <= stored


def test_one_policy_row():
    first = PlacementPolicy.current()
    PlacementPolicy(strategy=Strategy.COST_FIRST).save()
    assert PlacementPolicy.objects.count() == 1
    assert PlacementPolicy.current().pk == first.pk
    assert PlacementPolicy.current().strategy == Strategy.COST_FIRST


def test_to_policy_carries_edits():
    policy = PlacementPolicy.current()
    policy.strategy = Strategy.PROVIDER_PRIORITY
    policy.provider_order = ["local", "vastai"]
    policy.enabled_providers = ["vastai"]
    policy.spot_urgencies = ["low"]
    policy.max_job_cost = 2
    engine = policy.to_policy()
    assert engine.provider_order == ("local", "vastai")
    assert engine.enabled_providers == frozenset({"vastai"})
    assert engine.spot_urgencies == frozenset({Urgency.LOW})
    assert engine.max_job_cost == 2.0 and engine.monthly_budget is None


@pytest.mark.parametrize("changes, field, advice", [
    ({"local_tolerance": 1.5}, "local_tolerance", "between 0 and 1"),
    ({"min_reliability": -0.1}, "min_reliability", "between 0 and 1"),
    ({"urgent_local_wait_s": -1}, "urgent_local_wait_s", "number of seconds"),
    ({"upload_mbps": 0}, "upload_mbps", "Mbit/s"),
    ({"max_job_cost": -5}, "max_job_cost", "leave it empty"),
    ({"strategy": "provider_priority"}, "provider_order", "needs a provider order"),
    ({"spot_urgencies": ["low", "soon"]}, "spot_urgencies", "low, normal, high"),
    ({"enabled_providers": "vastai"}, "enabled_providers", "list of provider names"),
])
def test_clean_says_what_to_write(changes, field, advice):
    policy = PlacementPolicy.current()
    for name, value in changes.items():
        setattr(policy, name, value)
    with pytest.raises(ValidationError) as caught:
        policy.full_clean()
    assert advice in " ".join(caught.value.message_dict[field])


def test_admin_change_is_audited(admin_client):
    policy = PlacementPolicy.current()
    response = admin_client.post(CHANGE_URL, {
        **policy_form(policy, local_tolerance="0.25", strategy="provider_priority",
                      provider_order="local, runpod"),
        "spot_urgencies": ["low"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    policy.refresh_from_db()
    assert policy.local_tolerance == 0.25 and policy.provider_order == ["local", "runpod"]
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.actor == "user:admin"
    assert event.detail["changes"] == {
        "strategy": ["balanced", "provider_priority"],
        "provider_order": [[], ["local", "runpod"]],
        "local_tolerance": [0.1, 0.25],
        "spot_urgencies": [["low", "normal"], ["low"]],
    }


def test_admin_refuses_a_bad_policy(admin_client):
    policy = PlacementPolicy.current()
    response = admin_client.post(CHANGE_URL, {
        **policy_form(policy, strategy="provider_priority"), "spot_urgencies": ["low"]})
    assert response.status_code == 200
    assert b"needs a provider order" in response.content
    assert not AuditEvent.objects.filter(action="policy.changed").exists()


def test_admin_list_leads_to_the_one_policy(admin_client):
    response = admin_client.get("/admin/placement/placementpolicy/")
    assert response.status_code == 302 and response.url.endswith(CHANGE_URL)
    assert admin_client.get(CHANGE_URL).status_code == 200


def test_policy_endpoint(api):
    body = api.get("/api/v1/placement/policy/").json()
    assert body["strategy"] == "balanced"
    assert body["local_tolerance"] == Policy().local_tolerance
    assert body["spot_urgencies"] == ["low", "normal"]
    assert APIClient().get("/api/v1/placement/policy/").status_code == 401


def test_local_cost_per_hour_is_energy_plus_depreciation():
    policy = PlacementPolicy.current()
    policy.energy_price_per_kwh = "0.40"
    policy.save()
    gpu = make_gpu(power_watts=450, purchase_price="1800", lifetime_hours=18000)
    # 0.45 kW at 0.40 per kWh, plus 1800 over 18000 hours.
    assert gpu.cost_per_hour == pytest.approx(0.45 * 0.40 + 0.1)


def test_a_free_gpu_by_default():
    assert make_gpu().cost_per_hour == 0.0


@pytest.mark.parametrize("fields, field, message", [
    ({"availability_schedule": "Mon-Fri 18:00"}, "availability_schedule",
     "is not a time window"),
    ({"availability_schedule": "Mon-Funday 18:00-08:00"}, "availability_schedule",
     "is not a day"),
    ({"performance_profile": [1, 2]}, "performance_profile", "analysis name to seconds"),
    ({"performance_profile": {"telepathy": 1}}, "performance_profile", "unknown analysis"),
    ({"performance_profile": {"shots": -1}}, "performance_profile", "shots: not a number"),
    ({"performance_profile": {"shots": True}}, "performance_profile", "shots: not a number"),
    ({"purchase_price": "900", "lifetime_hours": 0}, "lifetime_hours", "write the purchase"),
])
def test_gpu_validation(fields, field, message):
    with pytest.raises(ValidationError) as caught:
        make_gpu(**fields)
    assert message in " ".join(caught.value.message_dict[field])


def test_gpu_admin_refuses_a_bad_schedule(admin_client):
    from tests.test_admin import GPU_FORM

    response = admin_client.post("/admin/fleet/localgpu/add/",
                                 {**GPU_FORM, "availability_schedule": "weekdays 9-5"})
    assert response.status_code == 200
    assert b"is not a time window" in response.content


def test_gpu_admin_shows_cost(admin_client):
    gpu = make_gpu(power_watts=300, performance_profile={"shots": 0.01})
    page = admin_client.get(f"/admin/fleet/localgpu/{gpu.id}/change/")
    assert page.status_code == 200
    assert b"0.0900 USD" in page.content  # 0.3 kW at the default 0.30 per kWh
