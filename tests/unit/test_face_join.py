"""The faces analysis's pure-Python side: segments' clusters joined by centroid, and
the report section, which never shows a centroid."""

from __future__ import annotations

import math

from aima_tasks.kernel.analyses.faces import DISTANCE_THRESHOLD, FACES, join_faces, timeline
from aima_tasks.kernel.analyses.sections import Slot


def direction(angle: float) -> list[float]:
    """A unit vector in 128 dimensions; two of them lie 1 - cos(angle difference) apart."""
    return [math.cos(angle), math.sin(angle)] + [0.0] * 126


NEAR = math.acos(1 - DISTANCE_THRESHOLD / 2)  # half the threshold apart
FAR = math.acos(1 - 2 * DISTANCE_THRESHOLD)  # twice


def part(start: float, clusters: list[tuple[str, float, str | None]],
         faces: list[tuple[float, str]], duration: float = 10.0) -> dict:
    """A segment's result: (label, angle, name) clusters, (t, label) faces."""
    found = [{"label": label, "name": name, "count": sum(f[1] == label for f in faces),
              "first_s": min(t for t, c in faces if c == label),
              "last_s": max(t for t, c in faces if c == label), "centroid": direction(angle)}
             for label, angle, name in clusters]
    names = {c["label"]: c["name"] for c in found}
    return {"model": {"name": "dlib"}, "clusters": found, "duration_s": duration,
            "faces": [{"t": start + t, "box": [1, 2, 3, 4], "score": 0.9, "cluster": c,
                       "name": names[c]} for t, c in faces]}


def test_the_same_face_in_two_segments_is_one_cluster_and_another_face_its_own():
    first = part(0.0, [("F1", 0.0, None), ("F2", FAR, None)], [(1.0, "F1"), (2.0, "F2")])
    # The second segment sees the second person first, then the first.
    second = part(10.0, [("F1", FAR + NEAR, None), ("F2", NEAR, "Eileen")],
                  [(1.0, "F1"), (3.0, "F2"), (4.0, "F2")])
    for c in second["clusters"]:
        c["first_s"] += 10.0
        c["last_s"] += 10.0
    joined = join_faces([first, second])
    assert [(f["t"], f["cluster"], f["name"]) for f in joined["faces"]] == [
        (1.0, "F1", "Eileen"), (2.0, "F2", None), (11.0, "F2", None),
        (13.0, "F1", "Eileen"), (14.0, "F1", "Eileen")]
    assert [(c["label"], c["name"], c["count"], c["first_s"], c["last_s"])
            for c in joined["clusters"]] == [("F1", "Eileen", 3, 1.0, 14.0),
                                              ("F2", None, 2, 2.0, 11.0)]
    centroid = joined["clusters"][0]["centroid"]
    assert len(centroid) == 128 and math.isclose(math.hypot(*centroid), 1.0, rel_tol=1e-3)
    assert joined["duration_s"] == 20.0 and joined["model"] == {"name": "dlib"}


def test_two_clusters_of_one_segment_stay_apart_however_close():
    one = part(0.0, [("F1", 0.0, None), ("F2", NEAR / 4, None)], [(1.0, "F1"), (2.0, "F2")])
    assert [c["label"] for c in join_faces([one])["clusters"]] == ["F1", "F2"]


def test_segments_without_faces_join_to_nothing():
    assert join_faces([{"faces": [], "clusters": []}, {}]) == {
        "model": None, "faces": [], "clusters": []}
    assert join_faces([]) == {"model": None, "faces": [], "clusters": []}


def test_the_report_shows_no_centroid():
    result = part(0.0, [("F1", 0.0, "Eileen")], [(1.0, "F1")])
    shown = timeline(result)
    assert shown == {"faces": [{"t": 1.0, "box": [1, 2, 3, 4], "score": 0.9,
                                "cluster": "F1", "name": "Eileen"}],
                     "clusters": [{"label": "F1", "name": "Eileen", "count": 1,
                                   "first_s": 1.0, "last_s": 1.0}]}
    assert "centroid" not in repr(shown)
    [section] = FACES.sections
    assert section.slot == Slot.FACES and section.build is timeline
    assert timeline({"faces": "garbage", "clusters": [None, 3]}) == {"faces": [], "clusters": []}
