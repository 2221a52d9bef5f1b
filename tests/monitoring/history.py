"""A known history for /metrics: GPUs with telemetry, agents heard at known
ages, jobs with stage timestamps, analysis results, cloud instances and a
budget; and a GPU queue holding a known number of messages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from aima_tasks import topology
from aima_web.fleet.models import Agent, GpuTelemetry, LocalGPU
from aima_web.instances.models import CloudInstance
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from aima_web.placement.models import PlacementPolicy

S = timedelta(seconds=1)


@dataclass
class History:
    now: datetime
    gpus: dict[str, LocalGPU] = field(default_factory=dict)
    instances: dict[str, CloudInstance] = field(default_factory=dict)


def _agent(name: str, scope: str, heard_s_ago: float | None, now: datetime) -> Agent:
    heard = None if heard_s_ago is None else now - heard_s_ago * S
    return Agent.objects.create(name=name, scope=scope, credential_hash=name.ljust(64, "0"),
                                last_heartbeat=heard)


def _instance(now: datetime, provider: str, state: str, price: float, gpu_model: str = "",
              launched_s_ago: float | None = None, ended_s_ago: float | None = None,
              idle_s: float | None = None, agent: Agent | None = None) -> CloudInstance:
    def ago(seconds: float | None) -> datetime | None:
        return None if seconds is None else now - seconds * S
    return CloudInstance.objects.create(
        provider=provider, offer_id=f"{provider}-offer", gpu_model=gpu_model, gpu_class=80,
        price_per_hour=price, state=state, launched_at=ago(launched_s_ago),
        terminated_at=ago(ended_s_ago), idle_since=ago(idle_s), agent=agent)


def seed_fleet(history: History) -> None:
    now = history.now
    near, far = _agent("host-a", "local", 10, now), _agent("host-b", "local", 600, now)
    cloud_agent = _agent("aima-cloud", "cloud", 5, now)
    gone = _agent("aima-gone", "cloud", 7200, now)
    a = LocalGPU.objects.create(model="RTX 4090", host="host-a", vram_gb=24, uuid="GPU-a",
                                agent=near)
    GpuTelemetry.objects.create(gpu=a, received_at=now - 20 * S, utilization_pct=10,
                                temperature_c=40)
    GpuTelemetry.objects.create(gpu=a, received_at=now - 10 * S, utilization_pct=75,
                                memory_used_gb=6.0, memory_total_gb=24.0, temperature_c=71,
                                slowdown_temperature_c=90, power_w=300.0)
    b = LocalGPU.objects.create(model="RTX 3090", host="host-b", vram_gb=24, uuid="GPU-b",
                                agent=far, status="failed", health="persistent")
    GpuTelemetry.objects.create(gpu=b, received_at=now - 600 * S, temperature_c=95)
    c = LocalGPU.objects.create(model="A100", host="aima-cloud", vram_gb=80, uuid="GPU-c",
                                agent=cloud_agent)
    LocalGPU.objects.create(model="GTX 1080", host="host-a", vram_gb=8, status="retired")
    LocalGPU.objects.create(model="H100", host="aima-gone", vram_gb=80, agent=gone)
    history.gpus.update(a=a, b=b, c=c)
    history.instances.update(
        busy=_instance(now, "vastai", "busy", 1.5, "A100", launched_s_ago=7200,
                       agent=cloud_agent),
        idle=_instance(now, "runpod", "idle", 0.8, "L40S", launched_s_ago=3600, idle_s=300),
        ended=_instance(now, "vastai", "terminated", 2.0, "H100", launched_s_ago=5400,
                        ended_s_ago=1800, agent=gone),
        asked=_instance(now, "runpod", "requested", 3.0, "H100"))
    PlacementPolicy.objects.create(monthly_budget=Decimal("500"), max_local_wait_s=900)


def _decision(scope: str, provider: str, code: str, queue: str) -> dict:
    return {"placed": True, "code": code, "reason": f"a sentence about {code}",
            "scope": scope, "queue": queue, "choice": {"provider": provider}}


LOCAL = _decision("local", "local", "local_cheaper", "gpu.local.24")
CLOUD = _decision("cloud", "vastai", "cloud_cheaper", "gpu.cloud.80")

# Job -> (state, stamps as seconds after creation, created seconds ago, placement, analyses).
JOBS = {
    "done": ("succeeded", {"probing_at": 2, "placing_at": 5, "queued_at": 8, "running_at": 70,
                           "finished_at": 370}, 4000, LOCAL, ["shots", "transcript"]),
    "broke": ("failed", {"probing_at": 1, "placing_at": 2, "queued_at": 3, "running_at": 4,
                         "finished_at": 1004}, 5000, CLOUD, ["shots"]),
    "dropped": ("cancelled", {"probing_at": 1, "finished_at": 2}, 3000, None, []),
    "waits": ("queued", {"probing_at": 1, "placing_at": 2, "queued_at": 3}, 123, LOCAL,
              ["shots"]),
    "waits2": ("queued", {"probing_at": 1, "placing_at": 2, "queued_at": 3}, 33, LOCAL, []),
    "new": ("received", {}, 45, None, []),
}


def seed_jobs(history: History, owner) -> dict[str, Job]:
    now, jobs = history.now, {}
    asset = MediaAsset.objects.create(sha256="ef" * 32, size_bytes=10, media_type="video")
    for key, (state, stamps, created_ago, placement, analyses) in JOBS.items():
        created = now - created_ago * S
        job = Job.objects.create(owner=owner, media=asset, confidentiality="internal",
                                 state=state, placement=placement, analyses=analyses,
                                 requested_analyses=["shots"] if key == "waits2" else [])
        Job.objects.filter(pk=job.pk).update(
            created_at=created, **{name: created + s * S for name, s in stamps.items()})
        jobs[key] = job
    results = [("done", "shots", "GPU-a", None, 0.3), ("done", "transcript", "GPU-a", None, 4.0),
               ("broke", "shots", "", history.instances["busy"].agent, 45.0)]
    for key, analysis, uuid, agent, seconds in results:
        AnalysisResult.objects.create(job=jobs[key], analysis=analysis, data={}, gpu_uuid=uuid,
                                      agent=agent, started_at=now - 100 * S,
                                      finished_at=now - 100 * S + seconds * S)
    return jobs


@contextlib.contextmanager
def queue_holding(name: str, count: int) -> Iterator[None]:
    """The GPU queue ``name`` holding exactly ``count`` messages (emptied after)."""
    from aima_web.celery import app

    queue = next(q for q in topology.declared_queues() if q.name == name)
    with app.connection_for_write() as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        bound.purge()
        producer = conn.Producer()
        for n in range(count):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name)
        try:
            yield
        finally:
            bound.purge()
