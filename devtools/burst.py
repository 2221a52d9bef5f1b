"""Bursts of light jobs through a running stack, counted as they end: what the
embedded-default test and ``bench/embedded_burst.py`` run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from aima_web.jobs.states import TERMINAL
from devtools.api_client import ApiClient
from devtools.processes import Supervisor

# The lightest analysis there is: a 64-bit perceptual hash of a small picture.
LIGHT_ANALYSES = ("phash",)


@dataclass
class Outcome:
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0
    stuck: int = 0  # not ended when the wait ran out
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failures' reasons

    @property
    def jobs_per_s(self) -> float:
        return self.succeeded / self.elapsed_s if self.elapsed_s else 0.0

    def line(self) -> str:
        return (f"submitted {self.submitted}  succeeded {self.succeeded}  failed {self.failed}  "
                f"stuck {self.stuck}  in {self.elapsed_s:.1f} s: {self.jobs_per_s:.2f} jobs/s")


def run(api: ApiClient, media: Path, total: int, burst: int, pause_s: float,
        timeout_s: float, supervisor: Supervisor | None = None) -> Outcome:
    """Submit ``total`` jobs of ``media`` (light analyses only) in bursts of
    ``burst`` with ``pause_s`` between them, then wait up to ``timeout_s`` for
    all to end. With a ``supervisor``, a process it gave up on stops the wait."""
    started = time.monotonic()
    ids: list[str] = []
    while len(ids) < total:
        for _ in range(min(burst, total - len(ids))):
            ids.append(api.submit(media, analyses=list(LIGHT_ANALYSES))["id"])
        if len(ids) < total:
            time.sleep(pause_s)
    states = wait(api, set(ids), started + timeout_s, supervisor)
    outcome = Outcome(submitted=len(ids), elapsed_s=time.monotonic() - started)
    for job in states.values():
        if job["state"] == "succeeded":
            outcome.succeeded += 1
        elif job["state"] in TERMINAL:
            outcome.failed += 1
            if len(outcome.errors) < 5:
                outcome.errors.append(f"{job['id']}: {job['state']}: {job['error']}")
    outcome.stuck = len(ids) - outcome.succeeded - outcome.failed
    return outcome


def wait(api: ApiClient, ids: set[str], deadline: float,
         supervisor: Supervisor | None) -> dict[str, dict]:
    """The last state seen of each job in ``ids``, once all ended or at the deadline."""
    seen: dict[str, dict] = {}
    while True:
        seen.update({job["id"]: job for job in listed(api) if job["id"] in ids})
        open_jobs = [i for i in ids if seen.get(i, {}).get("state") not in TERMINAL]
        if not open_jobs or time.monotonic() > deadline:
            return seen
        if supervisor is not None and supervisor.failure is not None:
            raise supervisor.failure
        time.sleep(1)


def listed(api: ApiClient) -> list[dict]:
    """Every job the API lists, page by page."""
    jobs, page = [], 1
    while True:
        answer = api.get(f"/api/v1/jobs/?page={page}")
        jobs += answer["results"]
        if not answer.get("next"):
            return jobs
        page += 1
