"""A fleet at work in the last days, for the dashboard (made with the usage
tests' helpers, tests/usage/seed.py, but dated back from now: the dashboard
shows the last 30 days). Energy costs 0.30 per kWh (the policy's default).

- GPU A: RTX 4090 on agent "lab", 400 W, bought at 1752.00 over 8760 h:
  energy 0.12/h, depreciation 0.20/h. Two heartbeat samples, the latest at
  73 % utilisation, 10.5 of 24 GB, 61 C, 320 W.
- J1 local on A, 10 h, finished 3 days ago; cloud alternatives 7.00 and 5.00:
  costs 3.20, saves 5.00 - 3.20 = 1.80.
- J2 local on A, 5 h, finished 2 days ago; cloud alternative 4.00: costs
  1.60, saves 2.40.
- J4 cloud on instance I1 (A100 at 2.00/h, ran 6 h, terminated), 4 h,
  charged 8.00.
- J6 cloud, running on live instance I5 (H100 at 3.00/h, launched 2 h ago, busy).
- J7 local on A, running for 1 h; GPU B (RTX 3060, 12 GB, no sample) holds
  its second segment (placement counts J7's work against A, where it names).
- Q1 queued for GPU A (class 24): one hour of work ahead of the next job.
- One open alert: GPU A overheating.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from aima_web.access.roles import Role
from aima_web.alerts.models import Alert, Kind, Severity
from aima_web.fleet.models import Agent, Assignment, GpuTelemetry, LocalGPU
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs.models import Job
from tests.usage.seed import A100, H100, gpu, instance, job, option, placement, user


@dataclass
class Fleet:
    now: datetime
    gpu_a: LocalGPU
    gpu_b: LocalGPU
    live: CloudInstance
    jobs: dict[str, Job]
    alert: Alert


@pytest.fixture(autouse=True)
def utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def operator(django_user_model) -> Client:
    client = Client()
    client.force_login(user(django_user_model, "olga", Role.OPERATOR))
    return client


def _running(key: str, owner, start: datetime, record: dict, **fields) -> Job:
    made = job(key, owner, ["transcript"], start, start, record, **fields)
    Job.objects.filter(pk=made.pk).update(state="running", finished_at=None)
    made.refresh_from_db()
    return made


@pytest.fixture
def seeded(django_user_model) -> Fleet:
    now = timezone.now()
    alice = user(django_user_model, "alice", Role.ANALYST)
    lab = Agent.objects.create(name="lab", scope="local", credential_hash="l" * 64,
                               last_heartbeat=now)
    gpu_a = gpu("NVIDIA GeForce RTX 4090", 400, "1752.00", "lab", lifetime_hours=8760,
                agent=lab)
    GpuTelemetry.objects.create(gpu=gpu_a, received_at=now - timedelta(seconds=60),
                                utilization_pct=10, temperature_c=40)
    GpuTelemetry.objects.create(gpu=gpu_a, received_at=now - timedelta(seconds=5),
                                utilization_pct=73, memory_used_gb=10.5, memory_total_gb=24,
                                temperature_c=61, power_w=320)
    on_a = option("local", 3.0, "local", gpu_a.id, gpu_a.model)
    i1_start = now - timedelta(days=4)
    i1 = instance("i1", A100, 2.0, i1_start, i1_start + timedelta(hours=6))
    live_agent = Agent.objects.create(name="i5", scope="cloud", credential_hash="c" * 64,
                                      last_heartbeat=now)
    live = CloudInstance.objects.create(
        provider="vastai", offer_id="offer-i5", gpu_model=H100, gpu_class=80,
        price_per_hour=3.0, state=InstanceState.BUSY, agent=live_agent,
        requested_at=now - timedelta(hours=2), launched_at=now - timedelta(hours=2))
    j1_end, j2_end = now - timedelta(days=3), now - timedelta(days=2)
    jobs = {
        "J1": job("J1", alice, ["transcript"], j1_end - timedelta(hours=10), j1_end,
                  placement(on_a, [option("cloud", 7.0), option("cloud", 5.0)]),
                  agent=lab, gpu=gpu_a),
        "J2": job("J2", alice, ["transcript"], j2_end - timedelta(hours=5), j2_end,
                  placement(on_a, [option("cloud", 4.0)]), agent=lab, gpu=gpu_a),
        "J4": job("J4", alice, ["transcript"], i1_start + timedelta(hours=1),
                  i1_start + timedelta(hours=5), placement(option("cloud", 8.5), [on_a]),
                  agent=i1.agent, cost=8.0),
        "J6": _running("J6", alice, now - timedelta(minutes=30),
                       placement(option("cloud", 1.5, model=H100), []), agent=live_agent),
        "J7": _running("J7", alice, now - timedelta(hours=1), placement(on_a, []),
                       agent=lab, gpu=gpu_a),
    }
    gpu_b = gpu("NVIDIA GeForce RTX 3060", 200, "0", "lab", agent=lab)
    LocalGPU.objects.filter(pk=gpu_b.pk).update(vram_gb=12)
    Assignment.objects.create(job=jobs["J7"], segment=1, unit="transcript", agent=lab,
                              gpu=gpu_b, assigned_at=now - timedelta(minutes=20))
    queued = job("Q1", alice, ["transcript"], now, now, placement(on_a, []))
    Job.objects.filter(pk=queued.pk).update(state="queued", running_at=None, finished_at=None,
                                            queued_at=now - timedelta(minutes=10))
    jobs["Q1"] = queued
    alert = Alert.objects.create(kind=Kind.GPU_OVERHEATING, subject=f"gpu:{gpu_a.id}",
                                 severity=Severity.CRITICAL,
                                 message=f"GPU #{gpu_a.id} at 95 C", raised_at=now)
    return Fleet(now=now, gpu_a=gpu_a, gpu_b=gpu_b, live=live, jobs=jobs, alert=alert)
