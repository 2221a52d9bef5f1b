"""A long video analysed in segments, watched through the API while it runs: its
progress rises step by step, never goes back, and ends at 100 % when the job succeeds
(bench/progress_eta.py measures how good the ETA is on such runs)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from agents import samples
from devtools.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_segmented_video_shows_progress_rising_to_one_while_it_runs(
        start_stack: Callable[..., Stack], tmp_path: Path):
    # 40 s of video cut into 5 s segments: 8 parts each for vad and sounds, one for loudness.
    stack = start_stack("Progress RTX (simulated):24", AIMA_SEGMENT_S="5")
    scenes = tuple(((40 * (i % 6), 90, 200 - 30 * (i % 6)), 5.0) for i in range(8))
    video = samples.write_video(tmp_path / "long.mp4", scenes=scenes).path
    job_id = stack.api.submit(video, analyses=["vad", "sounds", "loudness"])["id"]
    job, running = stack.api.watch(job_id, 180, every_s=0.1)
    seen = [body["progress"] for body in running]
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
