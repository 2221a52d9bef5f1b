"""The engine as a placer: its decisions turned into replay placements."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aima_tasks.kernel.placement import FleetState, Policy, Strategy, decide
from aima_tasks.kernel.simulation.placers import EnginePlacer

from .scenario import MONDAY, book, estimate, fleet, job, offer
from .test_replay import local_gpu


@dataclass
class Now:
    state: FleetState
    now_s: float = MONDAY.timestamp()

    def fleet_state(self, priority: int | None = None) -> FleetState:
        return self.state

    def backlog_s(self, gpu: int, priority: int | None = None) -> float:
        return 0.0


def test_a_spot_choice_runs_for_the_plain_estimate_not_the_expected_rework():
    spot = offer(spot_price_per_hour=0.5, interruption_per_hour=2.0)
    prices = book(spot)
    the_fleet = fleet(policy=Policy())
    video = job("v", MONDAY, media="video", analyses=("shots",), duration=3600)
    state = FleetState(gpus=(), now=MONDAY)
    placer = EnginePlacer(Strategy.COST_FIRST, the_fleet, prices)

    decision = decide(video.spec, state, prices.book, placer.policy)
    assert decision.choice is not None and decision.choice.spot
    plain = estimate(video, spot.gpu_model)
    # The engine prices spot with the rework it expects; the replay draws its own.
    assert decision.choice.runtime_s > plain
    placement = placer.place(video, Now(state))
    assert placement is not None
    assert placement.spot and placement.offer == 0
    assert placement.runtime_s == pytest.approx(plain)


def test_a_local_choice_maps_the_gpu_id_to_its_position():
    gpus = (local_gpu(gpu_id=11, vram_gb=8.0), local_gpu(gpu_id=42))
    the_fleet = fleet(*gpus)
    placer = EnginePlacer(Strategy.LOCAL_FIRST, the_fleet, book())
    image = job("i", MONDAY)
    placement = placer.place(image, Now(FleetState(gpus=gpus, now=MONDAY)))
    assert placement is not None
    assert placement.gpu == 1 and placement.offer == -1
    assert placement.runtime_s == pytest.approx(estimate(image, gpus[1].model))


def test_an_unplaced_decision_is_no_placement():
    placer = EnginePlacer(Strategy.BALANCED, fleet(), book())
    secret = job("s", MONDAY, confidentiality="confidential")
    assert placer.place(secret, Now(FleetState(gpus=(), now=MONDAY))) is None
