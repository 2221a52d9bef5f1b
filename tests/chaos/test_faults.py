"""Nothing lost, nothing stuck (issue 14): each fault injected while about 20 jobs
are in flight on a stack of real processes; every job must succeed once, and
requests during the fault get what the scenario allows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.chaos.scenarios import SCENARIOS
from tests.chaos.stack import World

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

JOBS = 20
# After the fault, how long the jobs have to end before those left count as stuck.
SETTLE_S = float(os.environ.get("AIMA_CHAOS_SETTLE_S") or 45)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_job_succeeds_once(world: World, scenario: harness.Scenario,
                                 tallies: list[harness.Tally], scenario_folder: Path):
    tally = harness.run(world, scenario, JOBS, SETTLE_S, scenario_folder)
    tallies.append(tally)
    assert tally.ok, f"{harness.table([tally])}\n" + "\n".join(tally.problems)
