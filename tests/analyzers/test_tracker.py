"""The ByteTrack-style tracker (Kalman prediction, two-stage association,
re-identification by looks) and the stitching of segments' tracks, on plain boxes."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest

from agents.analyzers.tracker import ByteTracker, Detection
from aima_tasks.kernel.analyses.merges import stitch_tracks

SAMPLE_FPS = 5.0
RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)

# --- stitching on plain results -------------------------------------------------------


def part(*tracks: dict, frames: int = 10) -> dict:
    return {
        "detector": {"name": "test", "version": "0"},
        "sample_fps": SAMPLE_FPS,
        "frames_analysed": frames,
        "width": 640,
        "height": 360,
        "tracks": list(tracks),
        "track_count": len(tracks),
    }


def track(track_id: int, times: list[float], x0: float, dx: float) -> dict:
    boxes = [
        {"t": t, "box": [round(x0 + i * dx), 50, 80, 200], "score": 0.9}
        for i, t in enumerate(times)
    ]
    return {"id": track_id, "label": "person", "start_s": times[0], "end_s": times[-1],
            "samples": len(times), "boxes": boxes}


def test_two_people_either_side_of_the_boundary_stay_apart():
    leaving = track(1, [1.0, 1.2, 1.4, 1.6, 1.8], 300, -40)  # walks out on the left
    arriving = track(1, [2.0, 2.2, 2.4], 500, 10)  # someone else, on the right
    stitched = stitch_tracks([part(leaving), part(arriving, frames=5)])
    assert stitched["track_count"] == 2
    assert [t["id"] for t in stitched["tracks"]] == [1, 2]
    assert stitched["frames_analysed"] == 15


def test_stitching_follows_a_moving_person_and_respects_the_gap():
    # 300 px/s: the last box before the cut (x=280) and the first after it (x=340)
    # hardly overlap, but the walker carried on at that speed lands right on it.
    walking = track(1, [1.2, 1.4, 1.6, 1.8], 100, 60)
    onwards = track(1, [2.0, 2.2, 2.4], 340, 60)
    lost_long_ago = track(2, [0.0, 0.2, 0.4], 340, 0)  # same place, but 1.6 s earlier
    stitched = stitch_tracks([part(lost_long_ago, walking), part(onwards)])
    assert stitched["track_count"] == 2
    joined = next(t for t in stitched["tracks"] if t["start_s"] == 1.2)
    assert joined["samples"] == 7 and joined["end_s"] == 2.4
    assert [b["t"] for b in joined["boxes"]] == [1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4]


def test_stitch_needs_parts():
    with pytest.raises(ValueError):
        stitch_tracks([])


# --- the tracker ---------------------------------------------------------------------


def person(x: float, score: float = 0.9) -> Detection:
    return Detection("person", score, (x, 100.0, 60.0, 150.0))


def run_tracker(frames: list[list[Detection]]) -> list:
    tracker = ByteTracker()
    for index, detections in enumerate(frames):
        tracker.update(index / SAMPLE_FPS, detections)
    return tracker.finish()


def test_crossing_pair_keeps_two_identities():
    # Two people walk towards each other at 20 px per sample and pass through the
    # same spot: the prediction from their speed keeps who is who.
    frames = [[person(100 + 20 * i), person(500 - 20 * i)] for i in range(21)]
    for later in frames[10:]:
        later.reverse()  # a detector lists what it finds in no particular order
    tracks = run_tracker(frames)
    assert len(tracks) == 2
    for found in tracks:
        xs = [box[0] for _, box, _ in found.boxes]
        assert len(xs) == 21
        steps = {round(b - a) for a, b in pairwise(xs)}
        assert steps in ({20}, {-20})  # each track moves one way all along


def test_missed_samples_do_not_break_a_track():
    frames = [[person(100 + 10 * i)] for i in range(12)]
    frames[5] = frames[6] = []  # the detector missed them twice
    [only] = run_tracker(frames)
    assert len(only.boxes) == 10
    assert only.boxes[-1][0] == pytest.approx(11 / SAMPLE_FPS)


def test_long_absence_ends_the_track():
    frames = [[person(100)] for _ in range(4)] + [[] for _ in range(8)]
    frames += [[person(100)] for _ in range(4)]
    assert [t.id for t in run_tracker(frames)] == [1, 2]


def test_weak_detections_extend_but_never_open_tracks():
    frames = [[person(100)], [person(100)], [person(102, score=0.3)], [person(104, score=0.3)]]
    frames += [[person(400, score=0.3)] for _ in range(6)]  # a weak lone find elsewhere
    [only] = run_tracker(frames)
    assert len(only.boxes) == 4


def test_short_false_alarms_are_dropped():
    frames = [[person(100)], [person(100)], [], [], [], [], [], [], []]
    assert run_tracker(frames) == []


def test_tracker_compares_like_with_like():
    frames = [[person(100), dataclasses.replace(person(100), label="car")] for _ in range(5)]
    tracks = run_tracker(frames)
    assert sorted(t.label for t in tracks) == ["car", "person"]


def looking(x: float, look: tuple[float, ...], score: float = 0.9) -> Detection:
    return dataclasses.replace(person(x, score), appearance=look)


def test_a_person_lost_for_two_seconds_keeps_their_id_by_their_looks():
    # Walks right at 10 px a sample, hidden for 10 samples (2 s), comes out further on.
    frames = [[looking(100 + 10 * i, RED)] for i in range(6)]
    frames += [[] for _ in range(10)]
    frames += [[looking(100 + 10 * i, RED)] for i in range(16, 22)]
    [only] = run_tracker(frames)
    assert len(only.boxes) == 12


def test_someone_else_where_the_lost_one_was_gets_a_new_id():
    frames = [[looking(100 + 10 * i, RED)] for i in range(6)]
    frames += [[] for _ in range(10)]
    frames += [[looking(100 + 10 * i, BLUE)] for i in range(16, 22)]
    assert [len(t.boxes) for t in run_tracker(frames)] == [6, 6]


def test_the_lost_are_forgotten_after_a_while():
    frames = [[looking(100, RED)] for _ in range(4)] + [[] for _ in range(30)]
    frames += [[looking(100, RED)] for _ in range(4)]
    assert len(run_tracker(frames)) == 2  # 6 s apart: REID_S is 4
