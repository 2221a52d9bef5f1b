"""A seeded month of work, March 2026 (31 days, 744 hours, UTC): two local GPUs
and a retired one, one cloud provider (vastai) with four instances, one of
them failed, and five jobs of two users with placement records and their
alternatives. The tests work out every figure from these by hand.

Energy costs 0.30 per kWh (the policy's default).

- GPU A: RTX 4090, 400 W, bought at 1752.00 over 8760 h:
  energy 0.4 kWh * 0.30 = 0.12/h, depreciation 1752 / 8760 = 0.20/h.
- GPU B: RTX 3060, 200 W, nothing to write off: energy 0.06/h.
- GPU C: A100 (retired), 300 W, bought at 1073.00: the purchase price the
  "buy one" suggestion reckons with; energy 0.09/h.

Jobs (running_at → finished_at):
- J1 alice, GPU A, transcript + faces, 03-02 10:00 → 20:00 (10 h); results of
  1 h and 3 h share it 1/4 : 3/4. Cloud alternatives cost 5.00 and 7.00.
- J2 alice, GPU A, transcript, 03-10 00:00 → 03-11 06:00 (30 h); cheapest cloud
  alternative 8.00.
- J3 bob, GPU B, faces, 03-31 23:00 → 04-01 01:00 (2 h, one in each month); no
  alternative.
- J4 bob, vastai instance I1, transcript, 03-05 09:00 → 13:00 (4 h), charged 8.00.
- J5 alice, vastai instance I2, faces + transcript, 03-20 10:30 → 12:30 (2 h),
  charged 4.00; no results: equal shares.

Instances (vastai, all requested when launched):
- I1 A100 at 2.00/h, 03-05 08:00 → 14:00, terminated.
- I2 A100 at 2.00/h, 03-20 10:00 → 13:00, terminated.
- I3 H100 at 4.00/h, 03-25 09:00 → 09:30, failed.
- I4 A100 at 2.00/h, 02-28 22:00 → 03-01 02:00, terminated (requested in February).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group

from aima_tasks.kernel.placement import Decision
from aima_tasks.kernel.placement.decision import Alternative, Code, Option
from aima_web.access.roles import Role
from aima_web.fleet.models import Agent, LocalGPU
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset

A100 = "NVIDIA A100-SXM4-80GB"
H100 = "NVIDIA H100 80GB HBM3"


def at(day: str, hour: str = "00:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{hour}").replace(tzinfo=UTC)


@dataclass
class World:
    gpu_a: LocalGPU
    gpu_b: LocalGPU
    gpu_c: LocalGPU
    jobs: dict[str, Job]


def option(scope: str, cost: float, provider: str = "vastai", gpu_id: int | None = None,
           model: str = A100) -> Option:
    return Option(scope=scope, provider=provider, gpu_model=model, spot=False,
                  price_per_hour=2.0, wait_s=60.0, runtime_s=3600.0, cost=cost,
                  runtime_source="benchmark", gpu_id=gpu_id, host="lab" if gpu_id else "",
                  offer_id="" if gpu_id else "offer-1", instance_type="" if gpu_id else "a100")


def placement(choice: Option, alternatives: list[Option]) -> dict:
    """A decision record as placement stores it on a job."""
    return Decision(
        placed=True, code=Code.CHEAPEST, reason="seeded", strategy="balanced",
        vram_need_gb=8.0, min_cuda="12.0", gpu_class=24, scope=choice.scope,
        queue=f"gpu.{choice.scope}.24", choice=choice,
        alternatives=tuple(Alternative(option=alt, lost=Code.MORE_EXPENSIVE, why="dearer")
                           for alt in alternatives)).to_dict()


def user(django_user_model, name: str, role: Role):
    made = django_user_model.objects.create_user(username=name, password="pw-" + name,
                                                 is_staff=True)
    made.groups.add(Group.objects.get(name=role.label))
    return made


def gpu(model: str, watts: float, price: str, host: str, **fields) -> LocalGPU:
    return LocalGPU.objects.create(model=model, vram_gb=24, host=host, power_watts=watts,
                                   purchase_price=Decimal(price), **fields)


def instance(name: str, model: str, price: float, start: datetime, end: datetime,
             state: str = InstanceState.TERMINATED) -> CloudInstance:
    agent = Agent.objects.create(name=name, scope="cloud", credential_hash=name.ljust(64, "0"))
    return CloudInstance.objects.create(
        provider="vastai", offer_id=f"offer-{name}", gpu_model=model, gpu_class=80,
        price_per_hour=price, state=state, agent=agent, requested_at=start, launched_at=start,
        terminated_at=end, cost=price * (end - start).total_seconds() / 3600)


def job(key: str, owner, analyses: list[str], start: datetime, end: datetime,
        record: dict, **fields) -> Job:
    asset = MediaAsset.objects.create(sha256=key.encode().hex().ljust(64, "0"),
                                      size_bytes=1000, media_type="video")
    return Job.objects.create(owner=owner, media=asset, media_name=f"{key}.mp4",
                              confidentiality="internal", analyses=analyses,
                              state="succeeded", running_at=start, finished_at=end,
                              placement=record, **fields)


def seed(django_user_model) -> World:
    alice = user(django_user_model, "alice", Role.ANALYST)
    bob = user(django_user_model, "bob", Role.ANALYST)
    local = Agent.objects.create(name="lab", scope="local", credential_hash="l" * 64)
    gpu_a = gpu("NVIDIA GeForce RTX 4090", 400, "1752.00", "lab", lifetime_hours=8760,
                agent=local)
    gpu_b = gpu("NVIDIA GeForce RTX 3060", 200, "0", "lab", agent=local)
    gpu_c = gpu(A100, 300, "1073.00", "old", status="retired")
    i1 = instance("i1", A100, 2.0, at("03-05", "08:00"), at("03-05", "14:00"))
    i2 = instance("i2", A100, 2.0, at("03-20", "10:00"), at("03-20", "13:00"))
    instance("i3", H100, 4.0, at("03-25", "09:00"), at("03-25", "09:30"), InstanceState.FAILED)
    instance("i4", A100, 2.0, at("02-28", "22:00"), at("03-01", "02:00"))
    on_a = option("local", 3.0, "local", gpu_a.id, gpu_a.model)
    on_b = option("local", 0.5, "local", gpu_b.id, gpu_b.model)
    jobs = {
        "J1": job("J1", alice, ["transcript", "faces"], at("03-02", "10:00"),
                  at("03-02", "20:00"), placement(on_a, [option("cloud", 7.0),
                                                         option("cloud", 5.0), on_b]),
                  agent=local, gpu=gpu_a),
        "J2": job("J2", alice, ["transcript"], at("03-10"), at("03-11", "06:00"),
                  placement(on_a, [option("cloud", 8.0)]), agent=local, gpu=gpu_a),
        "J3": job("J3", bob, ["faces"], at("03-31", "23:00"), at("04-01", "01:00"),
                  placement(on_b, []), agent=local, gpu=gpu_b),
        "J4": job("J4", bob, ["transcript"], at("03-05", "09:00"), at("03-05", "13:00"),
                  placement(option("cloud", 8.5), [on_a]), agent=i1.agent, cost=8.0),
        "J5": job("J5", alice, ["faces", "transcript"], at("03-20", "10:30"),
                  at("03-20", "12:30"), placement(option("cloud", 4.2), []),
                  agent=i2.agent, cost=4.0),
    }
    j1 = jobs["J1"]
    for analysis, hours in (("transcript", 1), ("faces", 3)):
        AnalysisResult.objects.create(job=j1, analysis=analysis, data={},
                                      started_at=j1.running_at,
                                      finished_at=j1.running_at + timedelta(hours=hours))
    return World(gpu_a=gpu_a, gpu_b=gpu_b, gpu_c=gpu_c, jobs=jobs)
