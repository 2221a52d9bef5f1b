"""People detection on real photographs (tests/analyzers/photos.py) with their flips,
crops and occlusions, and tracking on generated and real videos, with the built-in
MediaPipe + HOG fusion. Precision and recall over the photographs are printed
(``pytest -s``) for the closing notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agents.analyzers.context import AnalysisContext
from agents.analyzers.people import SAMPLE_FPS, detect_image, track_video
from agents.model_cache import packaged_model
from aima_tasks.kernel.analyses.boxes import iou
from aima_tasks.kernel.analyses.poses import PEOPLE_MODELS
from tests.analyzers import photos
from tests.analyzers.vision_media import (
    ASTRONAUT_FACE_CENTRE,
    ASTRONAUT_PERSON_BOX,
    figure_box,
    person_photo,
)

# Everyone in the photographs, boxes marked by hand (x, y, width, height) from the
# pictures: hair to feet (or the frame's edge), hand to hand.
MARKED = {
    "astronaut": [ASTRONAUT_PERSON_BOX],
    "basketball1": [(35, 80, 130, 400), (435, 22, 205, 458)],  # facing; profile, cut
    "basketball2": [(35, 80, 135, 400), (428, 20, 212, 460)],
    "messi5": [(68, 60, 390, 278)],
}
# A found box is a marked person when they overlap this much: the landmarks' box of a
# person cut by the frame stops at the last point seen (the profile man's hips).
FOUND_IOU = 0.4
# messi5's blurred crowd: people a person would not count (photos.py), so a find
# smaller than this share of the picture's height is neither right nor wrong there.
CROWD_HEIGHT = 0.25


def people_context(**fields) -> AnalysisContext:
    return AnalysisContext(builtin={m.name: packaged_model(m) for m in PEOPLE_MODELS},
                           **fields)


def contains(box, point) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def matched(found: list[list[float]], marked: list, height: int,
            crowd: bool) -> tuple[int, int, int]:
    """(true positives, false positives, people missed), one find per person."""
    left = list(marked)
    hits = wrong = 0
    for box in found:
        best = max(left, key=lambda m: _overlap(box, m), default=None)
        if best is not None and _overlap(box, best) >= FOUND_IOU:
            left.remove(best)
            hits += 1
        elif not (crowd and box[3] < CROWD_HEIGHT * height):
            wrong += 1
    return hits, wrong, len(left)


def _overlap(box, marked) -> float:
    """How well a find covers a marked person: the whole person, or (half hidden,
    the landmarks' box stopping at the last point seen) their upper half."""
    x, y, w, h = marked
    return max(iou(box, marked), iou(box, (x, y, w, h / 2)))


def flipped(box, width: int):
    x, y, w, h = box
    return (width - x - w, y, w, h)


def variants(photo: photos.Photo, folder: Path) -> list[tuple[str, Path, list]]:
    """The photograph, mirrored, cropped (a quarter off the side away from the people
    is not enough: the crop cuts 15 % off the top and left) and with a grey block over
    the lower half of each person (an occlusion: a desk, a car in front)."""
    with Image.open(photo.path) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    height, width = rgb.shape[:2]
    marked = MARKED[photo.name]
    out = [("as is", photo.path, marked)]
    Image.fromarray(rgb[:, ::-1]).save(folder / f"{photo.name}-flip.png")
    out.append(("flipped", folder / f"{photo.name}-flip.png",
                [flipped(m, width) for m in marked]))
    dx, dy = round(0.15 * width), round(0.15 * height)
    Image.fromarray(rgb[dy:, dx:]).save(folder / f"{photo.name}-crop.png")
    out.append(("cropped", folder / f"{photo.name}-crop.png",
                [(max(0, x - dx), max(0, y - dy), w - max(0, dx - x), h - max(0, dy - y))
                 for x, y, w, h in marked]))
    hidden = rgb.copy()
    for x, y, w, h in marked:
        hidden[y + h // 2:y + h, x:x + w] = 128
    Image.fromarray(hidden).save(folder / f"{photo.name}-occluded.png")
    out.append(("half hidden", folder / f"{photo.name}-occluded.png", marked))
    return out


@pytest.fixture(scope="module")
def ctx() -> AnalysisContext:
    return people_context()


@pytest.fixture(scope="module")
def photo_results(ctx, tmp_path_factory) -> list[tuple[str, str, dict, list]]:
    folder = tmp_path_factory.mktemp("photos")
    results = []
    for photo in photos.PEOPLE:
        for how, path, marked in variants(photo, folder):
            results.append((photo.name, how, detect_image(path, ctx), marked))
    for photo in photos.NOBODY:
        results.append((photo.name, "as is", detect_image(photo.path, ctx), []))
    return results


def test_everyone_is_found_and_nobody_where_there_is_none(photo_results):
    hits = wrong = missed = 0
    failures = []
    for name, how, result, marked in photo_results:
        found = [d["box"] for d in result["detections"] if d["label"] == "person"]
        h, w, m = matched(found, marked, result["height"], name == "messi5")
        hits, wrong, missed = hits + h, wrong + w, missed + m
        if w or (m and how in ("as is", "flipped")):
            failures.append((name, how, result["detections"], marked))
    precision, recall = hits / ((hits + wrong) or 1), hits / ((hits + missed) or 1)
    print(f"\npeople on {len(photo_results)} pictures: {hits} found, {wrong} false, "
          f"{missed} missed; precision {precision:.3f}, recall {recall:.3f}")
    assert failures == []
    # Crops and occlusions: the basketball players cut by the crop or half hidden
    # are missed in 6 of 10 cases (the pose model needs a head and shoulders it can
    # place); measured 18 of 24 people found, no false find.
    assert recall >= 0.75 and precision == 1.0


def test_the_man_in_profile_at_the_edge_is_found(photo_results):
    result = next(r for name, how, r, _ in photo_results
                  if (name, how) == ("basketball1", "as is"))
    boxes = [d["box"] for d in result["detections"]]
    assert any(iou(box, MARKED["basketball1"][1]) >= FOUND_IOU for box in boxes), boxes


def test_astronaut_is_one_person_where_she_stands(photo_results):
    result = next(r for name, how, r, _ in photo_results if (name, how) == ("astronaut", "as is"))
    assert (result["width"], result["height"]) == (512, 512)
    assert result["person_count"] == 1  # the helmet she holds is no second person
    [person] = result["detections"]
    assert person["label"] == "person" and 0.5 < person["score"] <= 1
    assert "pose" in person["source"] and "face" in person["source"]
    assert contains(person["box"], ASTRONAUT_FACE_CENTRE)
    assert iou(person["box"], ASTRONAUT_PERSON_BOX) > 0.6


def test_boxes_are_in_upright_full_size_pixels(ctx, tmp_path):
    # Twice as large (so the detector works on a reduced copy), stored on its side
    # with an EXIF orientation that turns it upright again.
    with Image.open(person_photo()) as photo:
        upright = photo.convert("RGB").resize((1024, 1024))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    upright.rotate(90, expand=True).save(tmp_path / "sideways.jpg", exif=exif, quality=92)
    result = detect_image(tmp_path / "sideways.jpg", ctx)
    assert (result["width"], result["height"]) == (1024, 1024)
    best = max(result["detections"], key=lambda d: d["score"])
    assert iou(best["box"], [2 * v for v in ASTRONAUT_PERSON_BOX]) > 0.6


def test_pictures_smaller_than_a_person_window_are_safe(ctx, tmp_path):
    # OpenCV's HOG corrupts its heap on pictures smaller than its 64x128 window.
    Image.new("RGB", (60, 60), (90, 90, 90)).save(tmp_path / "tiny.png")
    result = detect_image(tmp_path / "tiny.png", ctx)
    assert result["detections"] == [] and result["person_count"] == 0


def test_missing_models_are_reported():
    with pytest.raises(LookupError, match="mediapipe-pose-detection"):
        detect_image(person_photo(), AnalysisContext())


# --- videos ---------------------------------------------------------------------------

WALK_S = 3.0


@pytest.fixture(scope="module")
def pedestrians(ctx) -> dict:
    return track_video(photos.PEDESTRIANS_VIDEO, AnalysisContext(
        builtin=ctx.builtin, end_s=WALK_S))


def test_walkers_are_followed(pedestrians):
    # vtest.avi's first 3 s: three people walk across a square seen from above, 60
    # to 80 pixels tall; the one in the middle is found on few samples (measured:
    # two followed over most of the clip).
    assert pedestrians["frames_analysed"] == round(WALK_S * SAMPLE_FPS)
    long_ones = [t for t in pedestrians["tracks"] if t["samples"] >= 0.6 * WALK_S * SAMPLE_FPS]
    assert len(long_ones) >= 2, pedestrians["tracks"]
    for track in long_ones:
        assert len(track["boxes"]) == track["samples"]
        # Walking, not jumping from one person to another: a box's centre moves less
        # than its width per sample (0.2 s), over the samples it was missed too (its
        # edge may move more: a walker coming out from behind a sign widens the box).
        for a, b in zip(track["boxes"], track["boxes"][1:], strict=False):
            steps = round((b["t"] - a["t"]) * SAMPLE_FPS)
            moved = abs(a["box"][0] + a["box"][2] / 2 - b["box"][0] - b["box"][2] / 2)
            assert moved < max(a["box"][2], 40) * steps, track
        assert set(track["summary"]) >= {"standing", "facing_camera", "facing_away"}
    assert all("poses" not in t for t in pedestrians["tracks"])  # pose's, not people's


HIDDEN = (1.8, 3.3)  # seconds the figure is behind the block


def test_one_track_id_across_an_occlusion(ctx, tmp_path):
    """The astronaut slides behind a grey block for 1.5 s and comes out again: still
    one track, picked up again by her looks near where she was heading."""
    path = occluded_figure_video(tmp_path / "hidden.mp4", 5.0)
    result = track_video(path, ctx)
    assert result["track_count"] == 1, [(t["start_s"], t["end_s"]) for t in result["tracks"]]
    [track] = result["tracks"]
    times = [b["t"] for b in track["boxes"]]
    assert times[0] <= 0.4 and times[-1] >= 4.4
    assert not any(HIDDEN[0] + 0.1 < t < HIDDEN[1] - 0.1 for t in times)  # out of sight
    for entry in track["boxes"]:  # her head and shoulders, inside the cut
        x, y, w, h = entry["box"]
        assert contains(figure_box(entry["t"], 5.0), (x + w / 2, y + h / 2)), entry


def occluded_figure_video(path: Path, seconds: float) -> Path:
    """vision_media's sliding astronaut, a grey block over her for HIDDEN seconds."""
    from fractions import Fraction

    import av

    from agents.samples import video_encoder
    from tests.analyzers import vision_media

    source = vision_media.moving_figure_video(path.with_suffix(".plain.mp4"), seconds)
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream(video_encoder(), rate=25, options={"g": "25"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.time_base = Fraction(1, 25)
        for index, frame in enumerate(src.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            if HIDDEN[0] <= index / 25 < HIDDEN[1]:
                x, y, w, h = figure_box(index / 25, seconds)
                rgb[max(0, y - 20):y + h, max(0, x - 20):x + w + 20] = 128
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = index
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


def test_coco_objects_join_the_people_in_a_picture(photo_results):
    """NanoDet's other classes pass through the fusion, one label per box; its people
    add their evidence to the pose model's."""
    results = {(name, how): result for name, how, result, _ in photo_results}
    footballer = results[("messi5", "as is")]["detections"]
    assert any(d["label"] == "sports ball" for d in footballer)
    player = max((d for d in footballer if d["label"] == "person"), key=lambda d: d["score"])
    assert "pose" in player["source"] and "coco" in player["source"]
    cat = results[("chelsea", "as is")]
    assert [d["label"] for d in cat["detections"]] == ["cat"] and cat["person_count"] == 0
