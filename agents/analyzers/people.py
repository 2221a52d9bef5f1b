"""People in pictures (``detect_image``) and in videos, followed as tracks (``track_video``).

The built-in detector needs no download: OpenCV's HOG pedestrian detector (its SVM is
compiled into OpenCV) finds whole bodies, and the Haar frontal-face cascade finds the
people HOG cannot see: close-ups, portraits, anyone cut by the frame. A face stands for
a person whose body box is estimated from it. A registry ONNX detector (``ctx.model``)
replaces both when the job was given one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import iter_frames, load_image, video_meta
from agents.analyzers.onnx_detector import OnnxDetector
from agents.analyzers.tracker import Detection, IouTracker, track_to_dict
from aima_tasks.kernel.analyses.boxes import Box, iou, overlap_of_smaller

SAMPLE_FPS = 5.0  # frames a second looked at: people do not come and go faster
IMAGE_SIDE = 800  # pictures are searched at most this large, boxes scaled back
VIDEO_SIDE = 640  # and video frames at most this large: 5 of them per media second
FACE_ARTIFACT = "opencv-haar-frontalface"

# HOG: 64x128 windows, every 8 pixels, pyramid steps of 10 % (5 % finds a few more
# people at twice the cost). The SVM margin is unbounded; HOG_SCALE maps a clear hit
# (margin ~1) to a score of about 0.75.
HOG_PYRAMID = 1.1
HOG_MIN_MARGIN = 0.3
HOG_SCALE = 0.7
# Haar: a face needs 5 overlapping hits; its last-stage sum is a margin as well,
# a clear face sits at 3..6, mapped to 0.7..0.9. Steps of 15 %: 1.1 costs half as much
# again and found no face more on our test media.
FACE_PYRAMID = 1.15
FACE_NEIGHBOURS = 5
FACE_MIN_SIDE = 24
FACE_SCALE = 2.5
# A person from a face: shoulders about 3 faces wide, head top half a face above the
# face box, feet about 7 face heights below the head top (clipped to the picture).
BODY_WIDTH_FACES = 3.0
BODY_HEIGHT_FACES = 7.0
HEAD_ABOVE_FACES = 0.5
# Body and face boxes of one person: plain overlap, or one mostly inside the other
# (the body box from a face is a guess, and HOG also fires on parts of a large person).
SAME_PERSON_IOU = 0.45
SAME_PERSON_INSIDE = 0.6


class Detector(Protocol):
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


class BuiltinPeopleDetector:
    """HOG bodies plus Haar faces, merged into one box per person."""

    def __init__(self, face_model: LoadedModel) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._faces = cv2.CascadeClassifier(str(face_model.path))
        if self._faces.empty():
            raise ValueError(f"{face_model.name}: {face_model.path} is not a Haar cascade")
        self.info = {"name": "opencv-hog+haar-frontalface", "version": cv2.__version__}

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, rgb: np.ndarray) -> list[Detection]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        bodies = self._bodies(grey)
        from_faces = []
        for face, score in self._faces_in(grey):
            body = _body_around(face, bodies)
            if body is None:
                box = body_from_face(face, grey.shape[1], grey.shape[0])
                from_faces.append(Detection("person", score, box, source="face"))
            else:
                # The face confirms that body: keep HOG's box, with the surer score.
                bodies[bodies.index(body)] = replace(body, score=max(score, body.score))
        return merge_people(bodies + from_faces)

    def _bodies(self, grey: np.ndarray) -> list[Detection]:
        win_w, win_h = self._hog.winSize
        if grey.shape[0] < win_h or grey.shape[1] < win_w:
            # No person fits, and OpenCV 4.14 corrupts its heap on pictures this small.
            return []
        rects, margins = self._hog.detectMultiScale(
            grey, hitThreshold=HOG_MIN_MARGIN, winStride=(8, 8), padding=(8, 8), scale=HOG_PYRAMID
        )
        return [
            Detection("person", _squash(float(m), HOG_SCALE), _as_box(r), source="body")
            for r, m in zip(rects, np.ravel(margins), strict=True)
        ]

    def _faces_in(self, grey: np.ndarray) -> list[tuple[Box, float]]:
        faces, _, margins = self._faces.detectMultiScale3(
            grey, scaleFactor=FACE_PYRAMID, minNeighbors=FACE_NEIGHBOURS,
            minSize=(FACE_MIN_SIDE, FACE_MIN_SIDE), outputRejectLevels=True,
        )
        return [
            (_as_box(face), _squash(float(m), FACE_SCALE))
            for face, m in zip(faces, np.ravel(margins), strict=True)
        ]


def body_from_face(face: Box, width: int, height: int) -> Box:
    x, y, w, h = face
    left = max(0.0, x + w / 2 - BODY_WIDTH_FACES * w / 2)
    right = min(float(width), x + w / 2 + BODY_WIDTH_FACES * w / 2)
    top = max(0.0, y - HEAD_ABOVE_FACES * h)
    bottom = min(float(height), y - HEAD_ABOVE_FACES * h + BODY_HEIGHT_FACES * h)
    return (left, top, right - left, bottom - top)


def _body_around(face: Box, bodies: list[Detection]) -> Detection | None:
    """The HOG body whose head this face is: face centre in its top third, and narrower."""
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    for body in sorted(bodies, key=lambda b: -b.score):
        x, y, w, h = body.box
        if x <= cx <= x + w and y <= cy <= y + h / 3 and face[2] < 0.8 * w:
            return body
    return None


def merge_people(candidates: list[Detection]) -> list[Detection]:
    """Greedy suppression, surest first. Boxes from the same detector are already
    grouped by OpenCV, so only plain overlap removes one of them; a body box and a
    face-derived box are one person when one lies mostly inside the other."""
    kept: list[Detection] = []
    for candidate in sorted(candidates, key=lambda d: -d.score):
        if not any(_same_person(candidate, k) for k in kept):
            kept.append(candidate)
    return kept


def _same_person(a: Detection, b: Detection) -> bool:
    if iou(a.box, b.box) >= SAME_PERSON_IOU:
        return True
    return a.source != b.source and overlap_of_smaller(a.box, b.box) >= SAME_PERSON_INSIDE


def _squash(margin: float, scale: float) -> float:
    """An unbounded classifier margin as a 0..1 score (0 at the decision boundary)."""
    return 1.0 - math.exp(-max(0.0, margin) / scale)


def _as_box(rect: Sequence[float]) -> Box:
    return (float(rect[0]), float(rect[1]), float(rect[2]), float(rect[3]))


def _detector(ctx: AnalysisContext) -> tuple[Detector, dict[str, Any], int]:
    """The detector for this job, how to name it in the result, and its working size."""
    if ctx.model is not None:
        onnx = OnnxDetector(ctx.model, ctx.device, ctx.precision, ctx.batch_size)
        info = {"name": ctx.model.name, "version": ctx.model.version, "provider": onnx.provider}
        return onnx, info, onnx.input_side
    builtin = BuiltinPeopleDetector(ctx.built_in(FACE_ARTIFACT))
    return builtin, builtin.info, 0


def _scaled(detection: Detection, sx: float, sy: float, width: int, height: int) -> Detection:
    x, y, w, h = detection.box
    x0, y0 = max(0.0, x * sx), max(0.0, y * sy)
    x1, y1 = min(float(width), (x + w) * sx), min(float(height), (y + h) * sy)
    return Detection(detection.label, detection.score, (x0, y0, x1 - x0, y1 - y0),
                     detection.source)


def detect_image(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    detector, info, model_side = _detector(ctx)
    loaded = load_image(path, max_side=max(IMAGE_SIDE, model_side))
    small = loaded.image  # at most that large: load_image reduces it
    sx, sy = loaded.width / small.width, loaded.height / small.height
    found = detector.detect([np.asarray(small)])[0]
    detections = [_scaled(d, sx, sy, loaded.width, loaded.height) for d in found]
    return {
        "detector": info,
        "width": loaded.width,
        "height": loaded.height,
        "detections": [
            {
                "label": d.label,
                "score": round(d.score, 3),
                "box": [round(v) for v in d.box],
                "source": d.source,
            }
            for d in detections
        ],
        "person_count": sum(d.label == "person" for d in detections),
    }


def track_video(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    detector, info, model_side = _detector(ctx)
    meta = video_meta(path)
    side = max(VIDEO_SIDE, model_side)
    reduce = min(1.0, side / max(meta.width, meta.height))
    work_w = max(1, round(meta.width * reduce))
    work_h = max(1, round(meta.height * reduce))
    sx, sy = meta.width / work_w, meta.height / work_h
    tracker = IouTracker()
    frames = iter_frames(
        path, work_w, work_h, "rgb24",
        start_s=ctx.start_s, end_s=ctx.end_s, step_s=1 / SAMPLE_FPS,
    )
    analysed = 0
    batch: list[tuple[float, np.ndarray]] = []

    def flush() -> None:
        results = detector.detect([pixels for _, pixels in batch])
        for (time_s, _), found in zip(batch, results, strict=True):
            people = [
                _scaled(d, sx, sy, meta.width, meta.height) for d in found if d.label == "person"
            ]
            tracker.update(time_s, people)
        batch.clear()

    for frame in frames:
        batch.append((frame.time_s, frame.pixels))
        analysed += 1
        if len(batch) >= max(1, ctx.batch_size):
            flush()
    if batch:
        flush()
    tracks = [track_to_dict(t) for t in tracker.finish()]
    return {
        "detector": info,
        "sample_fps": SAMPLE_FPS,
        "frames_analysed": analysed,
        "width": meta.width,
        "height": meta.height,
        "tracks": tracks,
        "track_count": len(tracks),
    }
