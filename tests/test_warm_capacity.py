"""Warm capacity against the real `subprocess` provider: a weekly burst of cloud
jobs in the history gets an instance asked for ahead of it, audited with its
numbers, which the burst's first job then takes instead of a new one; none when
the waiting saved is not worth the instance's cost, when no burst is due, or when
one of the class is there already."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from aima_web.audit.models import AuditEvent
from aima_web.instances import capacity, warm
from aima_web.instances.demand_history import cloud_forecast
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState
from tests.test_instances import cloud, queued_cloud_job  # noqa: F401  (cloud: a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

# Jobs per weekly burst: enough that the hour of the burst, however the window
# meets it, expects more than one within an instance's boot and margin.
BURST = 24


def history(owner, moments: list[datetime], gpu_class: int = 24) -> None:
    """Finished cloud jobs of ``gpu_class``, each queued at one of ``moments``."""
    asset, _ = MediaAsset.objects.get_or_create(sha256="cd" * 32,
                                                defaults={"size_bytes": 10,
                                                          "media_type": "video"})
    record = {"placed": True, "scope": "cloud", "gpu_class": gpu_class}
    rows = Job.objects.bulk_create(
        Job(owner=owner, media=asset, confidentiality="public", state=JobState.SUCCEEDED,
            placement=record, queued_at=at) for at in moments)
    for job, at in zip(rows, moments, strict=True):
        Job.objects.filter(pk=job.pk).update(created_at=at)


def weekly_burst(owner, offset: timedelta, weeks: int = 4) -> None:
    """``BURST`` jobs at ``offset`` from now, in each of the last ``weeks`` weeks."""
    now = timezone.now()
    history(owner, [now + offset - timedelta(weeks=week, seconds=i)
                    for week in range(1, weeks + 1) for i in range(BURST)])


def test_a_weekly_burst_gets_an_instance_ahead(alice, settings, api, video_file):
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 100.0
    weekly_burst(alice, timedelta(minutes=5))
    [instance_id] = warm.ensure_warm()
    instance = CloudInstance.objects.get(pk=instance_id)
    assert (instance.provider, instance.gpu_class, instance.state, instance.spot) == (
        "subprocess", 24, InstanceState.REQUESTED, False)
    event = AuditEvent.objects.get(action="instance.warm_requested")
    numbers = event.detail
    assert numbers["request"] and numbers["expected_jobs"] >= 1
    assert numbers["boot_s"] == pytest.approx(123.0)  # the offer's, no boot observed yet
    assert numbers["window_s"] == pytest.approx(123.0 + settings.AIMA_WARM_MARGIN_S)
    assert numbers["value"] > numbers["cost"] > 0
    assert numbers["price_per_hour"] == pytest.approx(0.9)
    # Asked for once: the next tick finds it coming.
    assert warm.ensure_warm() == []
    # The burst's first job takes it: no new instance is asked for.
    job = queued_cloud_job(api, video_file)
    assert capacity.ensure_capacity() == []
    job.refresh_from_db()
    assert job.wait_reason == ""


def test_none_when_the_waiting_saved_is_not_worth_the_cost(alice, settings):
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 1.0
    weekly_burst(alice, timedelta(minutes=5))
    assert warm.ensure_warm() == []
    [(choice, _offer)] = warm.plan(timezone.now())
    assert not choice.request
    assert choice.expected_jobs >= 1 and 0 < choice.value < choice.cost
    assert "not worth it" in choice.reason
    assert not CloudInstance.objects.exists()


def test_none_without_a_burst_due(alice, settings):
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 100.0
    weekly_burst(alice, timedelta(hours=-8))  # the burst of each week passed hours ago
    assert warm.ensure_warm() == []
    assert not CloudInstance.objects.exists()


def test_none_when_one_of_the_class_is_there(alice, settings):
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 100.0
    weekly_burst(alice, timedelta(minutes=5))
    CloudInstance.objects.create(provider="subprocess", offer_id="x", gpu_class=24,
                                 state=InstanceState.IDLE,
                                 requested_at=timezone.now() - timedelta(hours=2))
    assert warm.ensure_warm() == []
    [(choice, _)] = warm.plan(timezone.now())
    assert choice.reason == "an instance of the class is there or coming"


def test_an_idle_instance_is_kept_for_a_burst_due(alice, settings):
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 100.0
    now = timezone.now()
    idle = CloudInstance.objects.create(
        provider="subprocess", offer_id="subprocess:LOCAL", gpu_class=24, price_per_hour=0.9,
        state=InstanceState.IDLE, launched_at=now - timedelta(minutes=30),
        ready_at=now - timedelta(minutes=20), idle_since=now - timedelta(minutes=10))
    assert not warm.keep_for_burst(idle).request  # no history: no burst
    weekly_burst(alice, timedelta(minutes=5))
    kept = warm.keep_for_burst(idle)
    assert kept.request and kept.boot_s == pytest.approx(600.0) and kept.value > kept.cost


def test_a_history_younger_than_a_week_forecasts_no_burst(alice, settings):
    """Jobs seen minutes ago make no weekly pattern: nothing is rented ahead,
    and an idle instance is not kept for a burst read from them."""
    settings.AIMA_WARM_VALUE_PER_WAIT_HOUR = 100.0
    now = timezone.now()
    history(alice, [now - timedelta(minutes=10, seconds=i) for i in range(BURST)])
    assert cloud_forecast(now, warm.MIN_HISTORY).expected(24, now, 3600) == 0
    assert warm.ensure_warm() == []
    # The same burst a week and more back is a pattern.
    weekly_burst(alice, timedelta(minutes=5))
    assert cloud_forecast(timezone.now(), warm.MIN_HISTORY).expected(
        24, timezone.now(), 3600) > 1
