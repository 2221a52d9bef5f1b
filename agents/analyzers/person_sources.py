"""The built-in person detectors the people analysis fuses (people.py): MediaPipe's
pose model (``PersonFinder``: one person per call, swept over the frame and run on
crops), its full-range face detector and OpenCV's HOG body detector, each with its
score calibrated (``calibrated``) and a look (torso colours) for re-identification.

Calibration: a score is meant as the chance that a find is a real person, whichever
source made it; what we could measure on the photographs of tests/analyzers/photos.py
(with flips, crops and occlusions) and the first seconds of OpenCV's vtest.avi:
- pose landmarks: MediaPipe's landmark visibilities sit at 0.9-1.0 for real people and
  for the ghosts it sees in clutter alike, so they hardly rank finds; the ghosts are
  kept out by the sweep's checks (``_plausible``) and the tile rules instead. A lone
  pose find scores 0.8 (the mean visibility of its 8 most visible points, mapped
  0.55 -> 0, 0.95 -> 0.8): all 18 finds on the 24 pictures with people were people,
  and none was made on the 8 without.
- a face alone (BlazeFace full range, its score mapped 0.5 -> 0, 0.9 -> 0.85): the
  faces in the photographs score 0.8-0.91 (the footballer's 30-pixel face 0.81).
- a COCO person (NanoDet-g, agents/analyzers/coco.py), its score mapped 0.55 -> 0.5,
  0.8 -> 0.9: NanoDet scores the people of the photographs 0.51-0.80 and nothing on the
  8 without people above 0.37, but on the crops and occlusions it also calls a small
  thing or a person's raised arm a person at 0.49-0.52; from 0.55 its find alone opens
  a track or makes a detection, below it adds evidence and sends the pose model to look.
  Its other classes keep their own scores, from 0.55 (below it a pen was "scissors"
  and a kiwi a "bowl"), one label per box.
- a HOG body alone: its SVM margin, at most 0.45. Pillars and window frames reach a
  margin of 1 as easily as people do, so HOG alone never opens a track nor makes a
  picture's detection: it extends tracks and sends the pose model to look.
Sources agreeing on one person combine by noisy-OR (people.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from agents.analyzers import mediapipe_graphs
from agents.analyzers.coco import CocoDetector
from agents.analyzers.context import AnalysisContext
from agents.analyzers.pose_geometry import facing, posture
from agents.analyzers.tracker import Detection
from aima_tasks.kernel.analyses.boxes import Box, iou
from aima_tasks.kernel.analyses.coco import COCO_DETECTOR

MAX_SWEEPS = 4  # people found by sweeping one frame (then crops find the rest)
MAX_CROPS = 8  # candidates looked at more closely per frame
TILE, TILE_STEP = 0.375, 0.25  # video tiles and their spacing, shares of the longer side
FLAT = 0.5  # a tile's find at most this much taller than wide is no standing person
CROP_MARGIN = 1.4  # the square crop around a candidate: its longer side times this
CROP_SIDE = 256  # crops are enlarged or reduced to this (the landmark model's 256)
LANDMARK_SEEN = 0.5
REFOUND_IOU = 0.5  # a later sweep's person and the same found on a crop
CLEAR_GAP = 0.02  # share of the frame's width between a later sweep's find and others
SIZE_WITH_FIRST = 0.5  # its height against the first person's, when not found again
CONFIRM_IOU = 0.3  # a crop's landmarks must cover the candidate they confirm this well
# A person from a face: shoulders about 3 faces wide, head top half a face above the
# face box, feet about 7 face heights below the head top (clipped to the picture).
BODY_WIDTH_FACES = 3.0
BODY_HEIGHT_FACES = 7.0
HEAD_ABOVE_FACES = 0.5
HOG_PYRAMID = 1.1
HOG_MIN_MARGIN = 0.3


class Detector(Protocol):
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


def calibrated(source: str, raw: float) -> float:
    """A raw detector score as the chance of a real person (see the module's notes)."""
    low, high, top = {"pose": (0.55, 0.95, 0.8), "face": (0.5, 0.9, 0.85),
                      "body": (0.0, 3.0, 0.45), "coco": (0.24, 0.8, 0.9)}[source]
    return round(max(0.0, min(top, (raw - low) / (high - low) * top)), 4)


THING_SCORE = 0.55  # a COCO find other than a person counts from this score
ONE_LABEL_IOU = 0.7  # two labels on boxes overlapping this much: the surer one stays


class CocoSource:
    """NanoDet's COCO finds: people with calibrated scores, other things (cars, cats)
    from THING_SCORE with one label per box (NanoDet often puts a second class on a
    box, a "dog" on the cat)."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self.detector = CocoDetector(ctx.built_in(COCO_DETECTOR.name), ctx.device,
                                     ctx.batch_size)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self._one(found) for found in self.detector.detect(images)]

    def _one(self, found: list[Detection]) -> list[Detection]:
        people = [replace(d, score=calibrated("coco", d.score)) for d in found
                  if d.label == "person"]
        things: list[Detection] = []
        for thing in found:  # surest first
            if thing.label != "person" and thing.score >= THING_SCORE and \
                    all(iou(thing.box, kept.box) < ONE_LABEL_IOU for kept in things):
                things.append(thing)
        return people + things


class FaceSource:
    """Full-range BlazeFace; each face stands for the person it belongs to."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self._graph = mediapipe_graphs.face_graph(ctx)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self._one(np.ascontiguousarray(image)) for image in images]

    def _one(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        found = []
        for face in self._graph.process(rgb).detections or []:
            b = face.location_data.relative_bounding_box
            box = (b.xmin * width, b.ymin * height, b.width * width, b.height * height)
            score = calibrated("face", float(face.score[0]))
            if score > 0:
                found.append(Detection("person", score, body_from_face(box, width, height),
                                       "face"))
        return found


class HogSource:
    """OpenCV's HOG pedestrian detector (its SVM is compiled into OpenCV)."""

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self._one(image) for image in images]

    def _one(self, rgb: np.ndarray) -> list[Detection]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        win_w, win_h = self._hog.winSize
        if grey.shape[0] < win_h or grey.shape[1] < win_w:
            # No person fits, and OpenCV 4.14 corrupts its heap on pictures this small.
            return []
        rects, margins = self._hog.detectMultiScale(
            grey, hitThreshold=HOG_MIN_MARGIN, winStride=(8, 8), padding=(8, 8),
            scale=HOG_PYRAMID)
        return [Detection("person", calibrated("body", float(m)),
                          tuple(float(v) for v in r), "body")  # type: ignore[arg-type]
                for r, m in zip(rects, np.ravel(margins), strict=True)]


class PersonFinder:
    """MediaPipe pose on a whole frame (swept) or on a crop around a candidate."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self._pose = mediapipe_graphs.pose_graph(ctx)
        self.sources: list[Detector] = [FaceSource(ctx), HogSource()]
        self.info = {"version": mediapipe_graphs.INFO["version"], "opencv": cv2.__version__}

    def sweep(self, rgb: np.ndarray) -> list[Detection]:
        """Everyone the pose model finds, greying out each person found before
        searching again. (Searching the frame's square halves as well finds a few
        more people cut by the frame, and as many ghosts on empty pictures.)"""
        work = np.array(rgb)
        found: list[Detection] = []
        for _ in range(MAX_SWEEPS):
            person = self._landmarks(work, (0, 0), 1.0, rgb.shape)
            if person is None:
                break
            x, y, w, h = (round(v) for v in _mask(person, rgb.shape))
            work[y:y + h, x:x + w] = 128
            if not found or self._plausible(rgb, person, found):
                found.append(person)
        return found

    def tiles(self, rgb: np.ndarray) -> list[Detection]:
        """People too small for the whole-frame sweep (a hall seen from above):
        the pose model on overlapping squares of TILE of the frame's longer side.
        Video only: on a still picture it also sees people in clutter, where on video
        the tracker drops what does not persist. Flat finds (a coat on the grass) are
        left out, so a person lying far away is missed."""
        height, width = rgb.shape[:2]
        side = max(1, round(TILE * max(width, height)))
        step = max(1, round(TILE_STEP * max(width, height)))
        found: list[Detection] = []
        for top in range(0, max(1, height - side + step), step):
            for left in range(0, max(1, width - side + step), step):
                crop = np.ascontiguousarray(rgb[top:top + side, left:left + side])
                person = self._landmarks(crop, (left, top), 1.0, rgb.shape)
                if person is not None and person.box[3] >= FLAT * person.box[2]:
                    found.append(person)
        return found

    def _plausible(self, rgb: np.ndarray, person: Detection, found: list[Detection]) -> bool:
        """Once part of the frame is grey, the model readily sees a person in what is
        left of one greyed out (the helmet she holds, an arm). A later find counts when
        found again on a crop of the untouched frame, or when it is of a size with the
        first person and clear of everyone found (a person cut by the frame's edge is
        rarely found again on a crop)."""
        again = self.around(rgb, person.box)
        if again is not None and iou(again.box, person.box) >= REFOUND_IOU:
            return True
        clear = all(_gap(person.box, f.box) >= CLEAR_GAP * rgb.shape[1] for f in found)
        return clear and person.box[3] >= SIZE_WITH_FIRST * found[0].box[3]

    def around(self, rgb: np.ndarray, box: Box) -> Detection | None:
        """The person the pose model sees in a square crop around ``box``, if it
        overlaps that box."""
        x, y, w, h = box
        side = max(w, h) * CROP_MARGIN
        left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
        size = max(1, round(side))
        padded = cv2.copyMakeBorder(rgb, size, size, size, size, cv2.BORDER_CONSTANT,
                                    value=(128, 128, 128))
        crop = padded[top + size:top + 2 * size, left + size:left + 2 * size]
        scale = CROP_SIDE / size
        crop = cv2.resize(crop, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_LINEAR)
        person = self._landmarks(crop, (left, top), scale, rgb.shape)
        if person is None or iou(person.box, box) < CONFIRM_IOU:
            return None
        return person

    def _landmarks(self, rgb: np.ndarray, offset: tuple[int, int], scale: float,
                   shape: tuple[int, ...]) -> Detection | None:
        result = self._pose.process(np.ascontiguousarray(rgb))
        if not result.pose_landmarks:
            return None
        height, width = rgb.shape[:2]
        points = [[offset[0] + p.x * width / scale, offset[1] + p.y * height / scale,
                   round(float(p.visibility), 3)] for p in result.pose_landmarks.landmark]
        top8 = sorted((p[2] for p in points), reverse=True)[:8]
        score = calibrated("pose", sum(top8) / len(top8))
        seen = [p for p in points if p[2] >= LANDMARK_SEEN]
        if score <= 0 or len(seen) < 4:
            return None
        box = _landmark_box(seen, shape)
        points = [[round(px, 1), round(py, 1), v] for px, py, v in points]
        extra = {"landmarks": points, "posture": posture(points), "facing": facing(points)}
        return Detection("person", score, box, "pose", extra)


def _landmark_box(seen: list[list[float]], shape: tuple[int, ...]) -> Box:
    """The landmarks' extent, grown to the body: the head reaches above the eyes and
    ears, and hands and feet beyond their outermost points."""
    xs, ys = [p[0] for p in seen], [p[1] for p in seen]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = x1 - x0, y1 - y0
    pad_x, pad_top = 0.1 * w + 0.03 * h, 0.12 * h
    x0, x1 = max(0.0, x0 - pad_x), min(float(shape[1]), x1 + pad_x)
    y0, y1 = max(0.0, y0 - pad_top), min(float(shape[0]), y1 + 0.04 * h)
    return (x0, y0, x1 - x0, y1 - y0)


def _mask(person: Detection, shape: tuple[int, ...]) -> Box:
    """What to grey out after finding ``person``: its box a little larger, down to the
    bottom of the frame when its hips were not seen (the body goes on below)."""
    x, y, w, h = person.box
    points = (person.extra or {}).get("landmarks") or []
    hips = len(points) > 24 and min(points[23][2], points[24][2]) >= LANDMARK_SEEN
    x0, y0 = max(0.0, x - 0.05 * w), max(0.0, y - 0.05 * h)
    x1 = min(float(shape[1]), x + 1.05 * w)
    y1 = min(float(shape[0]), y + (1.05 if hips else 3.0) * h)
    return (x0, y0, x1 - x0, y1 - y0)


def _gap(a: Box, b: Box) -> float:
    """Pixels between two boxes (0 when they touch or overlap)."""
    dx = max(b[0] - (a[0] + a[2]), a[0] - (b[0] + b[2]), 0.0)
    dy = max(b[1] - (a[1] + a[3]), a[1] - (b[1] + b[3]), 0.0)
    return max(dx, dy)


def body_from_face(face: Box, width: int, height: int) -> Box:
    x, y, w, h = face
    left = max(0.0, x + w / 2 - BODY_WIDTH_FACES * w / 2)
    right = min(float(width), x + w / 2 + BODY_WIDTH_FACES * w / 2)
    top = max(0.0, y - HEAD_ABOVE_FACES * h)
    bottom = min(float(height), y - HEAD_ABOVE_FACES * h + BODY_HEIGHT_FACES * h)
    return (left, top, right - left, bottom - top)


def with_appearance(rgb: np.ndarray, detection: Detection) -> Detection:
    """The detection with its torso's colours: a hue-saturation-value histogram of the
    middle of the box (below the head, above the legs), square-rooted and scaled to a
    unit vector so that a dot product compares two of them (Hellinger)."""
    x, y, w, h = detection.box
    x0, x1 = round(x + 0.25 * w), round(x + 0.75 * w)
    y0, y1 = round(y + 0.2 * h), round(y + 0.6 * h)
    torso = rgb[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    if torso.size == 0:
        return detection
    hsv = cv2.cvtColor(np.ascontiguousarray(torso), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    root = np.sqrt(hist.ravel())
    norm = math.sqrt(float(root @ root)) or 1.0
    return replace(detection, appearance=tuple(float(v) for v in root / norm))

