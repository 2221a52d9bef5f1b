"""Faces on real photographs (tests/analyzers/photos.py: scikit-image's astronaut,
OpenCV's basketball players and footballer, and pictures of nobody), on strong
augmentations of one of them, and on videos made of them: boxes on the faces, one
cluster per person within a job and across its segments, enrolled faces named.

Measured here (cosine distance of dlib descriptors, DISTANCE_THRESHOLD 0.1): views of
the astronaut 0.01-0.05 apart, the basketball player in two frames 0.02; different
people 0.126-0.167 apart.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.faces import FaceFinder, enrolment, faces
from agents.model_cache import packaged_models
from agents.samples import video_encoder
from aima_tasks.kernel.analyses.faces import DISTANCE_THRESHOLD, FACES, NAME_THRESHOLD
from tests.analyzers import photos
from tests.analyzers.vision_media import (
    ASTRONAUT_FACE_CENTRE,
    background_video,
    figure_box,
    moving_figure_video,
)

# Face centres marked by looking at the pictures (x, y), in their own pixels.
FACE_CENTRES = {"astronaut": ASTRONAUT_FACE_CENTRE, "basketball1": (90, 114),
                "basketball2": (90, 114), "messi5": (243, 112)}
# (crop left, top, right, bottom), mirrored, gamma, blur radius, scale: each view is
# framed, lit, sharpened and sized differently.
VIEWS = {"close, dark, mirrored, small": ((100, 0, 400, 300), True, 1.8, 2.0, 0.6),
         "tight, bright, large": ((130, 30, 330, 230), False, 0.5, 1.5, 1.7),
         "wide, mirrored, small": ((60, 10, 460, 410), True, 1.0, 1.2, 0.5)}
FPS = 10
SIZE = (640, 360)
# The figure cut of vision_media: the astronaut's face centre lies here in the cut.
FIGURE_FACE = (ASTRONAUT_FACE_CENTRE[0] - 95, ASTRONAUT_FACE_CENTRE[1] - 10)


@pytest.fixture(scope="module")
def ctx() -> AnalysisContext:
    return AnalysisContext(builtin=packaged_models(FACES.models))


def rgb(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def view(picture: np.ndarray, crop: tuple[int, int, int, int], mirrored: bool,
         gamma: float, blur: float, scale: float) -> np.ndarray:
    left, top, right, bottom = crop
    image = Image.fromarray(picture[top:bottom, left:right])
    if mirrored:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.resize((round(image.width * scale), round(image.height * scale)),
                         Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(blur))
    lit = 255 * (np.asarray(image, dtype=np.float32) / 255) ** gamma
    return lit.clip(0, 255).astype(np.uint8)


def astronaut_views() -> list[np.ndarray]:
    picture = rgb(photos.ASTRONAUT.path)
    return [view(picture, *how) for how in VIEWS.values()]


def framed(picture: np.ndarray) -> np.ndarray:
    """The picture scaled to fit the video frame, on grey."""
    image = Image.fromarray(picture)
    image.thumbnail(SIZE, Image.Resampling.BICUBIC)
    frame = Image.new("RGB", SIZE, (128, 128, 128))
    frame.paste(image, ((SIZE[0] - image.width) // 2, (SIZE[1] - image.height) // 2))
    return np.asarray(frame)


def write_video(path: Path, shots: list[np.ndarray], shot_s: float = 1.0) -> Path:
    """One still shot after another, each shot_s long."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(video_encoder(), rate=FPS, options={"g": str(FPS)})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        per_shot = round(shot_s * FPS)
        for index in range(len(shots) * per_shot):
            frame = av.VideoFrame.from_ndarray(shots[index // per_shot], format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def centre(box: list[int]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


@pytest.mark.parametrize("photo", photos.PEOPLE, ids=lambda p: p.name)
def test_a_face_box_lies_on_the_face(photo, ctx):
    result = faces(photo.path, ctx)
    [face] = result["faces"]  # the footballer's blurred crowd is no face of ours
    (x, y), (tx, ty) = centre(face["box"]), FACE_CENTRES[photo.name]
    # Within a third of the face's size of where a person marks its centre.
    assert abs(x - tx) < face["box"][2] / 3 and abs(y - ty) < face["box"][3] / 3
    assert 0.1 < face["box"][2] / result["width"] < 0.3 or photo.name != "astronaut"
    assert face["score"] >= 0.7 and face["cluster"] == "F1" and face["name"] is None
    [cluster] = result["clusters"]
    assert cluster["count"] == 1 and len(cluster["centroid"]) == 128
    assert "t" not in face and cluster["first_s"] is None


@pytest.mark.parametrize("photo", photos.NOBODY, ids=lambda p: p.name)
def test_no_face_where_there_is_none(photo, ctx):
    result = faces(photo.path, ctx)
    assert result["faces"] == [] and result["clusters"] == []


def test_views_of_one_person_lie_close_and_other_people_far(ctx):
    finder = FaceFinder(ctx)
    people = [[finder.find(v)[0].descriptor
               for v in [rgb(photos.ASTRONAUT.path), *astronaut_views()]],
              [finder.find(rgb(p.path))[0].descriptor
               for p in (photos.BASKETBALL_1, photos.BASKETBALL_2)],
              [finder.find(rgb(photos.FOOTBALLER.path))[0].descriptor]]
    within = [1 - a @ b for views in people for a, b in combinations(views, 2)]
    between = [1 - a @ b for one, other in combinations(people, 2) for a in one for b in other]
    assert len(within) == 7 and len(between) == 14
    assert max(within) < 0.06 < NAME_THRESHOLD < DISTANCE_THRESHOLD < 0.12 < min(between)


def write_shots(path: Path) -> Path:
    """The astronaut, the footballer, the basketball player, the astronaut again in
    another view, the player in his other frame: a second each."""
    views = astronaut_views()
    # The players' left three quarters, unscaled: their faces are small enough as it is.
    player = [rgb(p.path)[40:400, :480] for p in (photos.BASKETBALL_1, photos.BASKETBALL_2)]
    shots = [views[0], rgb(photos.FOOTBALLER.path), player[0], views[1], player[1]]
    return write_video(path, [framed(s) for s in shots])


@pytest.fixture(scope="module")
def shots_video(tmp_path_factory) -> Path:
    return write_shots(tmp_path_factory.mktemp("faces") / "shots.mp4")


def test_the_same_face_later_in_a_video_is_one_cluster(shots_video, ctx):
    result = faces(shots_video, ctx)
    seen = {int(face["t"]): face["cluster"] for face in result["faces"]}
    assert seen == {0: "F1", 1: "F2", 2: "F3", 3: "F1", 4: "F3"}
    assert [(c["label"], c["count"], c["first_s"], c["last_s"]) for c in result["clusters"]] == [
        ("F1", 4, 0.0, 3.5), ("F2", 2, 1.0, 1.5), ("F3", 4, 2.0, 4.5)]
    assert result["frames_analysed"] == 10 and result["duration_s"] == 5.0


def test_segments_joined_give_the_clusters_of_one_pass(shots_video, ctx):
    whole = faces(shots_video, ctx)
    parts = [faces(shots_video, AnalysisContext(builtin=ctx.builtin, start_s=a, end_s=b))
             for a, b in ((0.0, 2.5), (2.5, 5.0))]
    assert [len(p["clusters"]) for p in parts] == [3, 2]
    joined = FACES.merge(parts)
    key = [(f["t"], f["cluster"]) for f in whole["faces"]]
    assert [(f["t"], f["cluster"]) for f in joined["faces"]] == key
    assert [(c["label"], c["count"], c["first_s"], c["last_s"]) for c in joined["clusters"]] == [
        (c["label"], c["count"], c["first_s"], c["last_s"]) for c in whole["clusters"]]
    assert joined["duration_s"] == 5.0


def test_an_enrolled_face_names_its_cluster_and_no_other(shots_video, ctx, tmp_path):
    finder = FaceFinder(ctx)
    enrolled = tmp_path / "eileen.json"
    # Enrolled from the third view, which the video does not show.
    enrolled.write_text(enrolment("Eileen", finder.find(astronaut_views()[2])[0].descriptor))
    reference = LoadedModel("face-eileen", "1", "0" * 64, enrolled)
    result = faces(shots_video, AnalysisContext(builtin=ctx.builtin, references=(reference,)))
    assert [(c["label"], c["name"]) for c in result["clusters"]] == [
        ("F1", "Eileen"), ("F2", None), ("F3", None)]
    assert {f["name"] for f in result["faces"] if f["cluster"] == "F1"} == {"Eileen"}
    # Where she is not, the nearest face is still no reason to name anyone.
    for photo in (photos.BASKETBALL_1, photos.FOOTBALLER):
        alone = faces(photo.path, AnalysisContext(builtin=ctx.builtin, references=(reference,)))
        assert [(c["label"], c["name"]) for c in alone["clusters"]] == [("F1", None)]


def test_a_moving_face_is_followed_on_its_face(tmp_path, ctx):
    result = faces(moving_figure_video(tmp_path / "figure.mp4"), ctx)
    assert result["frames_analysed"] == 8 and len(result["faces"]) == 8
    assert [c["label"] for c in result["clusters"]] == ["F1"]
    for face in result["faces"]:
        x, y, _, _ = figure_box(face["t"])
        cx, cy = centre(face["box"])
        assert abs(cx - x - FIGURE_FACE[0]) < 20 and abs(cy - y - FIGURE_FACE[1]) < 20


def test_no_face_on_a_wall(tmp_path, ctx):
    result = faces(background_video(tmp_path / "wall.mp4"), ctx)
    assert result["faces"] == [] and result["clusters"] == [] and result["frames_analysed"] == 4
