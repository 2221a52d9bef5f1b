"""Pose landmarks on real photographs and on a generated video, the geometric rules
for posture, facing and gestures, and the join of a video's segments."""

from __future__ import annotations

import pytest

from agents.analyzers.context import AnalysisContext
from agents.analyzers.pose import pose
from agents.analyzers.pose_geometry import gesture, posture
from agents.model_cache import packaged_model
from aima_tasks.kernel.analyses.merges import stitch_tracks
from aima_tasks.kernel.analyses.poses import POSE, POSE_MODELS, pose_tracks
from tests.analyzers import photos
from tests.analyzers.vision_media import ASTRONAUT_FACE_CENTRE, moving_figure_video

NOSE, LEFT_HIP, RIGHT_HIP, LEFT_ANKLE, RIGHT_ANKLE = 0, 23, 24, 27, 28


@pytest.fixture(scope="module")
def ctx() -> AnalysisContext:
    return AnalysisContext(builtin={m.name: packaged_model(m) for m in POSE_MODELS})


@pytest.fixture(scope="module")
def posed(ctx) -> dict[str, dict]:
    return {p.name: pose(p.path, ctx) for p in photos.PEOPLE}


def near(point, centre, reach: float) -> bool:
    return abs(point[0] - centre[0]) <= reach and abs(point[1] - centre[1]) <= reach


def test_the_astronauts_nose_is_on_her_face(posed):
    [track] = posed["astronaut"]["tracks"]
    [sample] = track["poses"]
    assert len(sample["landmarks"]) == 33
    assert near(sample["landmarks"][NOSE], ASTRONAUT_FACE_CENTRE, 30)
    assert sample["facing"] == "camera"
    assert track["summary"]["facing_camera"] == 1.0


# Faces marked by hand; the footballer kicks, his kicking foot only a little below
# his hips.
@pytest.mark.parametrize(("name", "face", "below"),
                         [("basketball1", (97, 120), 100), ("messi5", (242, 105), 20)])
def test_standing_people_have_ankles_below_hips(posed, name, face, below):
    # The leftmost person: the one facing the camera.
    track = min(posed[name]["tracks"], key=lambda t: t["boxes"][0]["box"][0])
    points = track["poses"][0]["landmarks"]
    assert near(points[NOSE], face, 25)
    hips_y = (points[LEFT_HIP][1] + points[RIGHT_HIP][1]) / 2
    assert min(points[LEFT_ANKLE][1], points[RIGHT_ANKLE][1]) > hips_y + below
    assert track["poses"][0]["posture"] == "standing"


def test_the_man_at_the_edge_is_seen_from_the_side(posed):
    right = max(posed["basketball1"]["tracks"], key=lambda t: t["boxes"][0]["box"][0])
    assert right["poses"][0]["facing"] == "profile"


def test_report_leaves_the_landmarks_out(posed):
    shown = pose_tracks(posed["basketball1"])
    assert len(shown) == 2 and all("poses" not in t and "gestures" in t for t in shown)


def hand(stretched: list[bool]) -> list[list[float]]:
    """21 hand points, wrist at the origin, fingers up: a stretched finger's tip lies
    beyond its middle joint, a curled one's back near the palm."""
    points = [[0.0, 0.0]] * 21
    for finger, out in enumerate(stretched):
        mcp, pip, dip, tip = (5 + 4 * finger + k for k in range(4))
        x = -30 + 20 * finger
        points[mcp], points[pip] = [x, -60], [x, -90]
        points[dip], points[tip] = ([x, -110], [x, -130]) if out else ([x, -75], [x, -60])
    return points


def test_gestures_follow_the_documented_rule():
    assert gesture(hand([True] * 4)) == "open_palm"
    assert gesture(hand([False] * 4)) == "fist"
    assert gesture(hand([True, False, False, False])) == "pointing"
    assert gesture(hand([True, True, False, False])) == "other"


def test_posture_without_legs_is_unknown(posed):
    [track] = posed["astronaut"]["tracks"]
    assert posture(track["poses"][0]["landmarks"]) == "unknown"  # cut at the waist


def test_video_segments_join_with_their_poses(ctx, tmp_path):
    path = moving_figure_video(tmp_path / "figure.mp4", 3.0)
    parts = [pose(path, AnalysisContext(builtin=ctx.builtin, end_s=1.5)),
             pose(path, AnalysisContext(builtin=ctx.builtin, start_s=1.5))]
    joined = POSE.merge(parts) if POSE.merge else stitch_tracks(parts)
    assert joined["track_count"] == 1 and joined["model"]["name"] == "mediapipe"
    [track] = joined["tracks"]
    assert len(track["poses"]) == track["samples"] >= 12
    assert all(len(p["landmarks"]) == 33 and "hands" in p for p in track["poses"])
    assert track["summary"]["facing_camera"] > 0.8


def test_the_footballers_open_left_hand(posed):
    # His left hand, on the picture's right (he faces the camera), fingers spread. The
    # spectators behind him are people too (NanoDet finds some): he is the largest.
    track = max(posed["messi5"]["tracks"], key=lambda t: t["boxes"][0]["box"][3])
    hands = {hand["side"]: hand for hand in track["poses"][0]["hands"]}
    left = hands["left"]
    assert left["gesture"] == "open_palm" and len(left["landmarks"]) == 21
    wrist_x, wrist_y = left["landmarks"][0]
    assert 320 <= wrist_x <= 420 and 120 <= wrist_y <= 220
    [shown] = [t for t in pose_tracks(posed["messi5"]) if t["id"] == track["id"]]
    assert shown["gestures"] == sorted(
        {hand["gesture"] for hand in hands.values()})
