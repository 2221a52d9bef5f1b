"""The faces analysis (whose face is seen when), declared for the control plane, and
the join of its segments' results: face clusters relabelled consistently across
segments by their centroids, in pure Python.

Result, media times throughout (``t`` only on video):
    {"model": {"name", "version"},
     "faces": [{"t": s, "box": [x, y, w, h], "score": 0..1, "cluster": "F1",
                "name": None or "enrolled name"}],
     "clusters": [{"label": "F1", "name": None or str, "count": int, "first_s": s,
                   "last_s": s, "centroid": [128 floats]}],
     "duration_s": s (video)}

A centroid is a face descriptor: biometric data, kept for the join and never shown in
the report (``timeline`` leaves it out).
"""

from __future__ import annotations

import math
from typing import Any

from aima_tasks.kernel.analyses.diarization import regroup
from aima_tasks.kernel.analyses.poses import FACE_FULL_RANGE
from aima_tasks.kernel.analyses.sections import Section, Slot, by_time, dicts, num
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

# dlib's models as face-recognition-models 0.3.0 ships them (CC0; trained by Davis King).
FACE_DESCRIPTOR = ModelFile(
    name="dlib-face-recognition-resnet-v1", version="0.3.0",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    distribution="face-recognition-models",
    path="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat")
FACE_LANDMARKS = ModelFile(
    name="dlib-shape-predictor-5-face-landmarks", version="0.3.0",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    distribution="face-recognition-models",
    path="face_recognition_models/models/shape_predictor_5_face_landmarks.dat")
# The registry task of enrolled faces: {"name": ..., "embedding": [128 floats]}.
ENROLMENT_TASK = "face-enrolment"

# dlib's descriptors are made for Euclidean distance; on unit vectors a cosine distance
# d is |a - b|^2 / 2, so dlib's own 0.6 is 0.18, which would merge different people of
# our photographs. Measured (tests/analyzers/test_faces.py): four views of the
# astronaut (crops, mirrored, gamma 0.5-1.8, blurred, scaled 0.5-1.7) lie 0.01-0.05
# apart, the basketball player in two frames 0.02; different people (the astronaut,
# the player, the footballer) 0.126-0.167. Average link merges below 0.1 (Euclidean
# 0.45): twice the farthest views of one face, a quarter below the nearest strangers.
DISTANCE_THRESHOLD = 0.1
# A cluster is named after an enrolled face only this close (Euclidean 0.4): an
# enrolment from another view of the astronaut lies 0.01 from her cluster; a wrong
# name is worse than none.
NAME_THRESHOLD = 0.08

def join_faces(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One faces result from those of consecutive segments, in order.

    Every part's clusters are clustered again by their centroids (two clusters of one
    part stay apart: that part already told them apart); faces are relabelled, and F1,
    F2 ... are given in order of first appearance."""
    found = [(index, c) for index, part in enumerate(parts) for c in dicts(part.get("clusters"))]
    groups = regroup([(index, c["centroid"]) for index, c in found],
                     [num(c.get("count")) or 1.0 for _, c in found], DISTANCE_THRESHOLD)
    group_of = {(index, c["label"]): g for (index, c), g in zip(found, groups, strict=True)}
    faces = [{**face, "cluster": group_of.get((index, face.get("cluster")))}
             for index, part in enumerate(parts) for face in dicts(part.get("faces"))]
    order = sorted(set(groups), key=lambda g: min(
        (num(c.get("first_s")) or 0.0, i) for (i, c), h in zip(found, groups, strict=True)
        if h == g))
    label = {group: f"F{rank + 1}" for rank, group in enumerate(order)}
    clusters = [_combined([c for (_, c), g in zip(found, groups, strict=True) if g == group],
                          tag) for group, tag in label.items()]
    names = {c["label"]: c["name"] for c in clusters}
    for face in faces:
        face["cluster"] = label.get(face["cluster"])
        face["name"] = names.get(face["cluster"])
    durations = [num(p.get("duration_s")) for p in parts]
    joined = {"model": parts[0].get("model") if parts else None,
              "faces": by_time(faces, "t"), "clusters": clusters}
    if any(d is not None for d in durations):
        joined["duration_s"] = round(sum(d or 0.0 for d in durations), 3)
    return joined


def _combined(members: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """One cluster from its parts: counts added up, centroids averaged by count."""
    counts = [num(m.get("count")) or 0.0 for m in members]
    size = len(members[0]["centroid"])
    total = [sum(n * m["centroid"][k] for n, m in zip(counts, members, strict=True))
             for k in range(size)]
    norm = math.sqrt(sum(x * x for x in total)) or 1.0
    named = sorted((m for m in members if m.get("name")), key=lambda m: -(num(m.get("count")) or 0))
    firsts = [t for t in (num(m.get("first_s")) for m in members) if t is not None]
    lasts = [t for t in (num(m.get("last_s")) for m in members) if t is not None]
    return {"label": label, "name": named[0]["name"] if named else None,
            "count": int(sum(counts)), "first_s": min(firsts) if firsts else None,
            "last_s": max(lasts) if lasts else None,
            "centroid": [round(x / norm, 4) for x in total]}


def timeline(result: dict[str, Any]) -> dict[str, Any]:
    """Whose face was seen when, for the report: clusters without their centroids."""
    clusters = [{k: c.get(k) for k in ("label", "name", "count", "first_s", "last_s")}
                for c in dicts(result.get("clusters"))]
    faces = [{k: f.get(k) for k in ("t", "box", "score", "cluster", "name") if k in f}
             for f in dicts(result.get("faces"))]
    return {"faces": by_time(faces, "t"), "clusters": clusters}


FACES = AnalysisSpec(
    "faces", frozenset({MediaType.VIDEO, MediaType.IMAGE}),
    "Faces found (MediaPipe full-range detector) on pictures and on frames sampled twice "
    "a second, described by dlib's 128-d face descriptor and clustered into the people "
    "they belong to; enrolled faces named.",
    # Measured on one CPU core: about 0.12 s per sampled frame with one face (detection
    # 0.03 s, dlib's descriptor 0.09 s per face), 2 frames per media second.
    reference_s_per_unit=0.3, default_on=False,
    runner="agents.analyzers.faces:faces",
    models=(FACE_FULL_RANGE, FACE_LANDMARKS, FACE_DESCRIPTOR),
    reference_task=ENROLMENT_TASK,
    merge=join_faces,
    sections=(Section(Slot.FACES, ("faces", "clusters"), timeline),))
