"""People detection and tracking on real pictures (scikit-image's astronaut), with the
built-in OpenCV detectors; the tracker and the segment stitching on plain boxes."""

from __future__ import annotations

import dataclasses
import hashlib
from itertools import pairwise
from pathlib import Path

import cv2
import pytest
from PIL import Image

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.people import SAMPLE_FPS, detect_image, track_video
from agents.analyzers.tracker import Detection, IouTracker
from aima_tasks.kernel.analyses.boxes import iou
from aima_tasks.kernel.analyses.merges import stitch_tracks
from tests.analyzers.vision_media import (
    ASTRONAUT_FACE_CENTRE,
    ASTRONAUT_PERSON_BOX,
    background_video,
    figure_box,
    moving_figure_video,
    person_photo,
)

CLIP_S = 4.0
SAMPLES = round(CLIP_S * SAMPLE_FPS)


def builtin_context(**fields) -> AnalysisContext:
    cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    face = LoadedModel(
        name="opencv-haar-frontalface",
        version="4.14.0",
        sha256=hashlib.sha256(cascade.read_bytes()).hexdigest(),
        path=cascade,
    )
    return AnalysisContext(builtin={"opencv-haar-frontalface": face}, **fields)


def contains(box, point) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


# --- pictures -------------------------------------------------------------------------


def test_astronaut_is_one_person_where_she_stands():
    result = detect_image(person_photo(), builtin_context())
    assert (result["width"], result["height"]) == (512, 512)
    assert result["person_count"] == 1  # the helmet she holds is no second person
    [person] = result["detections"]
    assert person["label"] == "person" and 0.5 < person["score"] <= 1
    assert contains(person["box"], ASTRONAUT_FACE_CENTRE)
    assert iou(person["box"], ASTRONAUT_PERSON_BOX) > 0.6


def test_boxes_are_in_upright_full_size_pixels(tmp_path):
    # Twice as large (so the detector works on a reduced copy), stored on its side
    # with an EXIF orientation that turns it upright again.
    with Image.open(person_photo()) as photo:
        upright = photo.convert("RGB").resize((1024, 1024))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    upright.rotate(90, expand=True).save(tmp_path / "sideways.jpg", exif=exif, quality=92)
    result = detect_image(tmp_path / "sideways.jpg", builtin_context())
    assert (result["width"], result["height"]) == (1024, 1024)
    # At this size the face cascade also fires weakly on the helmet's reflections.
    assert result["person_count"] >= 1
    best = max(result["detections"], key=lambda d: d["score"])
    assert iou(best["box"], [2 * v for v in ASTRONAUT_PERSON_BOX]) > 0.6


def test_pictures_smaller_than_a_person_window_are_safe(tmp_path):
    # OpenCV's HOG corrupts its heap on pictures smaller than its 64x128 window.
    Image.new("RGB", (60, 60), (90, 90, 90)).save(tmp_path / "tiny.png")
    result = detect_image(tmp_path / "tiny.png", builtin_context())
    assert result["detections"] == [] and result["person_count"] == 0


def test_missing_face_model_is_reported():
    with pytest.raises(LookupError, match="opencv-haar-frontalface"):
        detect_image(person_photo(), AnalysisContext())


# --- videos ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figure_video(tmp_path_factory) -> Path:
    return moving_figure_video(tmp_path_factory.mktemp("people") / "figure.mp4", CLIP_S)


@pytest.fixture(scope="module")
def whole_clip(figure_video) -> dict:
    return track_video(figure_video, builtin_context())


# Cut at 2.1 s, which is no sampling mark: the second part starts sampling at 2.2 s.
BOUNDARY_S = 2.1


@pytest.fixture(scope="module")
def two_parts(figure_video) -> list[dict]:
    return [
        track_video(figure_video, builtin_context(end_s=BOUNDARY_S)),
        track_video(figure_video, builtin_context(start_s=BOUNDARY_S)),
    ]


def test_moving_figure_is_one_track_over_the_whole_clip(whole_clip):
    assert whole_clip["sample_fps"] == SAMPLE_FPS
    assert whole_clip["frames_analysed"] == SAMPLES
    assert (whole_clip["width"], whole_clip["height"]) == (640, 360)
    assert whole_clip["track_count"] == 1
    [track] = whole_clip["tracks"]
    assert track["id"] == 1 and track["label"] == "person"
    assert track["start_s"] <= 0.2 and track["end_s"] >= CLIP_S - 0.4
    assert track["samples"] >= SAMPLES - 2 and len(track["boxes"]) == track["samples"]
    for entry in track["boxes"]:
        assert iou(entry["box"], figure_box(entry["t"], CLIP_S)) > 0.5, entry


def test_track_moves_left_to_right(whole_clip):
    boxes = whole_clip["tracks"][0]["boxes"]
    centres = [b["box"][0] + b["box"][2] / 2 for b in boxes]
    assert centres[-1] - centres[0] > 250  # the figure travels 350 pixels
    assert all(later >= earlier - 10 for earlier, later in pairwise(centres))


def test_background_alone_has_no_track(tmp_path):
    result = track_video(background_video(tmp_path / "wall.mp4", 2.0), builtin_context())
    assert result["frames_analysed"] == 2 * SAMPLE_FPS
    assert result["tracks"] == [] and result["track_count"] == 0


def test_time_range_is_respected_and_times_are_absolute(two_parts, whole_clip):
    first, second = two_parts
    first_times = [b["t"] for t in first["tracks"] for b in t["boxes"]]
    second_times = [b["t"] for t in second["tracks"] for b in t["boxes"]]
    assert first["frames_analysed"] == 11  # 0.0, 0.2 ... 2.0
    assert second["frames_analysed"] == 9  # 2.2 ... 3.8
    assert first_times and max(first_times) < BOUNDARY_S
    assert second_times and min(second_times) == pytest.approx(2.2)
    # Same sampling grid as one pass over the whole clip.
    whole_times = [b["t"] for b in whole_clip["tracks"][0]["boxes"]]
    assert sorted(first_times + second_times) == whole_times


def test_stitching_joins_the_track_cut_by_the_boundary(two_parts, whole_clip):
    assert [p["track_count"] for p in two_parts] == [1, 1]
    stitched = stitch_tracks(two_parts)
    assert stitched["track_count"] == 1
    assert stitched["frames_analysed"] == SAMPLES
    [track] = stitched["tracks"]
    [whole] = whole_clip["tracks"]
    assert track["id"] == 1
    assert (track["start_s"], track["end_s"], track["samples"]) == (
        whole["start_s"], whole["end_s"], whole["samples"]
    )


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


# --- the IoU tracker ------------------------------------------------------------------


def person(x: float, score: float = 0.9) -> Detection:
    return Detection("person", score, (x, 100.0, 60.0, 150.0))


def run_tracker(frames: list[list[Detection]]) -> list:
    tracker = IouTracker()
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
