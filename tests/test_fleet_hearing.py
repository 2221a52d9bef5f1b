"""A control plane that could not hear its agents (its database down, its beat
stopped) declares none of them lost for the silence it missed: hearing starts
again at the first fleet health round after the gap, and an agent is lost only
once the control plane has listened for AIMA_AGENT_OFFLINE_AFTER_S without
hearing it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from aima_tasks.kernel.classification import GpuStatus
from aima_web.fleet import hearing
from aima_web.fleet.models import Agent, Hearing
from aima_web.fleet.tasks import fleet_health
from tests.agent_api import GPU, enroll
from tests.test_fleet_failover import gpu, statuses_for_placement

pytestmark = pytest.mark.django_db

OFFLINE = timedelta(seconds=settings.AIMA_AGENT_OFFLINE_AFTER_S)
ROUND = timedelta(seconds=settings.AIMA_FLEET_HEALTH_S)


def silent_for(span: timedelta) -> None:
    Agent.objects.filter(gpus__uuid=GPU["uuid"]).update(last_heartbeat=timezone.now() - span)


def test_with_rounds_running_a_silent_agent_is_lost():
    enroll()
    fleet_health.apply().get()  # the first round: the control plane hears from the start
    silent_for(OFFLINE + timedelta(seconds=1))
    assert statuses_for_placement()[gpu().id] == GpuStatus.OFFLINE
    assert fleet_health.apply().get()["offline"] == 1
    assert gpu().status == GpuStatus.OFFLINE


def test_silence_while_the_control_plane_was_deaf_loses_no_agent():
    enroll()
    now = timezone.now()
    # The last round ran before a database outage longer than the offline time.
    Hearing.objects.create(since=hearing.ALWAYS,
                           last_round_at=now - OFFLINE - hearing.DEAF_ROUNDS * ROUND)
    silent_for(OFFLINE + timedelta(seconds=1))
    assert fleet_health.apply().get()["offline"] == 0
    assert gpu().status == GpuStatus.AVAILABLE
    assert statuses_for_placement()[gpu().id] == GpuStatus.AVAILABLE
    assert hearing.lost_before(now + OFFLINE / 2) is None

    # Heard for the offline time since, and still silent: now it is lost.
    later = Hearing.objects.get().since + OFFLINE + timedelta(seconds=1)
    assert hearing.lost_before(later) == later - OFFLINE


def test_one_late_round_is_no_deafness():
    now = timezone.now()
    Hearing.objects.create(since=hearing.ALWAYS, last_round_at=now - ROUND * 2)
    assert not hearing.round_ran(now)
    assert Hearing.objects.get().since == hearing.ALWAYS
    assert hearing.round_ran(now + ROUND * (hearing.DEAF_ROUNDS + 1))
    assert Hearing.objects.get().since == now + ROUND * (hearing.DEAF_ROUNDS + 1)
