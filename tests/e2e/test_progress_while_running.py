"""A long video analysed in segments, watched through the API while it runs: its
progress rises step by step, never goes back, and ends at 100 % when the job succeeds
(bench/progress_eta.py measures how good the ETA is on such runs)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agents import samples
from devtools.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def watch(stack: Stack, job_id: str, timeout_s: float = 180) -> tuple[dict, list[dict]]:
    """Poll the job until it ends: its last body and the progress of each running sample."""
    deadline = time.monotonic() + timeout_s
    seen: list[dict] = []
    while time.monotonic() < deadline:
        job = stack.api.get(f"/api/v1/jobs/{job_id}/")
        if job["state"] == "running":
            seen.append(job["progress"])
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job, seen
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not end in {timeout_s:g} s")


def test_a_segmented_video_shows_progress_rising_to_one_while_it_runs(
        start_stack: Callable[..., Stack], tmp_path: Path):
    # 40 s of video cut into 5 s segments: 8 parts each for vad and sounds, one for loudness.
    stack = start_stack("Progress RTX (simulated):24", AIMA_SEGMENT_S="5")
    scenes = tuple(((40 * (i % 6), 90, 200 - 30 * (i % 6)), 5.0) for i in range(8))
    video = samples.write_video(tmp_path / "long.mp4", scenes=scenes).path
    job_id = stack.api.submit(video, analyses=["vad", "sounds", "loudness"])["id"]
    job, seen = watch(stack, job_id)
    assert job["state"] == "succeeded", job["error"]
    total = job["progress"]["total"]
    assert total == 17, job["progress"]
    fractions = [p["fraction"] for p in seen] + [job["progress"]["fraction"]]
    assert all(b >= a for a, b in itertools.pairwise(fractions)), fractions
    dones = [p["done"] for p in seen] + [job["progress"]["done"]]
    assert all(b >= a for a, b in itertools.pairwise(dones)), dones
    # Seen on its way, not only at both ends: parts arrived while we watched.
    assert len({d for d in dones if 0 < d < total}) >= 3, dones
    assert all(p["eta_seconds"] is not None for p in seen)
    assert job["progress"]["fraction"] == 1.0 and job["progress"]["done"] == total
