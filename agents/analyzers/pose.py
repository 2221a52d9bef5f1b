"""Body pose per person (33 MediaPipe landmarks, posture, facing) and hand gestures,
on pictures and on videos (``pose``). It reuses the people pipeline in-process: the
people detector already computes the landmarks of everyone it confirms; this adds
landmarks for people found without them (a crop around the person) and the hands.

Gestures come from MediaPipe's hand landmarks (21 points) by the rule in
pose_geometry.gesture: open palm, fist, pointing, other. A hand belongs to the person
whose box holds its wrist.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agents.analyzers import mediapipe_graphs
from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import load_image
from agents.analyzers.people import IMAGE_SIDE, _scaled, follow, people_in_image, with_summary
from agents.analyzers.pose_geometry import gesture
from agents.analyzers.tracker import Detection

HAND_SEEN = 0.3  # a wrist this visible is looked at for a hand
HAND_AHEAD = 0.5  # the hand's centre: past the wrist by this share of the forearm
HAND_SIDE = 2.0  # the square searched: this many forearm lengths
MIN_HAND_PX = 12.0  # a forearm shorter than this (pixels) is taken as this long
HAND_CROP = 256  # the square is enlarged or reduced to this


class Hands:
    def __init__(self, ctx: AnalysisContext) -> None:
        self._graph = mediapipe_graphs.hands_graph(ctx)

    def of(self, rgb: np.ndarray, person: Detection) -> list[dict[str, Any]]:
        """The person's hands: side, gesture, 21 points (pixels of ``rgb``). Each is
        looked for in a square around a wrist the pose placed, carried on past it along
        the forearm (as MediaPipe's holistic graph re-crops hands): the palm detector
        misses hands that are small in the frame."""
        points = (person.extra or {}).get("landmarks") or []
        hands = []
        for side, elbow, wrist in (("left", 13, 15), ("right", 14, 16)):
            if len(points) <= wrist or points[wrist][2] < HAND_SEEN:
                continue
            (ex, ey), (wx, wy) = points[elbow][:2], points[wrist][:2]
            forearm = max(math.dist((ex, ey), (wx, wy)), MIN_HAND_PX)
            centre = (wx + HAND_AHEAD * (wx - ex), wy + HAND_AHEAD * (wy - ey))
            found = self._in_square(rgb, centre, HAND_SIDE * forearm)
            near = min(found, key=lambda h: math.dist(h["landmarks"][0], (wx, wy)), default=None)
            if near is not None and math.dist(near["landmarks"][0], (wx, wy)) < forearm:
                hands.append({"side": side, **near})
        return hands

    def _in_square(self, rgb: np.ndarray, centre: tuple[float, float],
                   side: float) -> list[dict[str, Any]]:
        size = max(1, round(side))
        left, top = round(centre[0] - side / 2), round(centre[1] - side / 2)
        padded = cv2.copyMakeBorder(rgb, size, size, size, size, cv2.BORDER_CONSTANT,
                                    value=(128, 128, 128))
        crop = padded[top + size:top + 2 * size, left + size:left + 2 * size]
        scale = HAND_CROP / size
        found = self._graph.process(np.ascontiguousarray(
            cv2.resize(crop, (HAND_CROP, HAND_CROP), interpolation=cv2.INTER_LINEAR)))
        hands = []
        for points in found.multi_hand_landmarks or []:
            pixels = [[round(left + p.x * HAND_CROP / scale, 1),
                       round(top + p.y * HAND_CROP / scale, 1)] for p in points.landmark]
            # The side comes from the pose's wrist it was found at: MediaPipe's own
            # handedness assumes a mirrored (selfie) picture and flips on crops.
            hands.append({"gesture": gesture(pixels), "landmarks": pixels})
        return hands


def _with_hands(hands: Hands, rgb: np.ndarray, people: list[Detection]) -> list[Detection]:
    """Each person with a pose sample: landmarks (or none), posture, facing, hands."""
    posed = []
    for person in people:
        extra = dict(person.extra or {"landmarks": [], "posture": "unknown",
                                      "facing": "unknown"})
        extra["hands"] = hands.of(rgb, person)
        posed.append(replace(person, extra=extra))
    return posed


def pose(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    hands = Hands(ctx)
    if _is_picture(path):
        return _picture(path, ctx, hands)
    head, tracks = follow(path, ctx, lambda rgb, people: _with_hands(hands, rgb, people))
    return {"model": mediapipe_graphs.INFO, **head, "tracks": tracks,
            "track_count": len(tracks)}


def _picture(path: Path, ctx: AnalysisContext, hands: Hands) -> dict[str, Any]:
    """A picture as a video of one sample at t = 0: one track per person."""
    head, people = people_in_image(path, ctx)
    loaded = load_image(path, max_side=IMAGE_SIDE)
    rgb = np.asarray(loaded.image)
    sx, sy = loaded.width / rgb.shape[1], loaded.height / rgb.shape[0]
    tracks = []
    for number, person in enumerate(people, start=1):
        small = _scaled(person, 1 / sx, 1 / sy, rgb.shape[1], rgb.shape[0])
        [posed] = _with_hands(hands, rgb, [small])
        full = _scaled(posed, sx, sy, loaded.width, loaded.height)
        extra = full.extra or {}
        extra["hands"] = [{**hand, "landmarks": [[round(px * sx, 1), round(py * sy, 1)]
                                                 for px, py in hand["landmarks"]]}
                          for hand in extra.get("hands", [])]
        track = {"id": number, "label": "person", "start_s": 0.0, "end_s": 0.0,
                 "samples": 1, "boxes": [{"t": 0.0, "box": [round(v) for v in full.box],
                                          "score": round(full.score, 3)}],
                 "poses": [{"t": 0.0, **extra}]}
        tracks.append(with_summary(track))
    return {"model": mediapipe_graphs.INFO, **head, "sample_fps": 0.0, "frames_analysed": 1,
            "tracks": tracks, "track_count": len(tracks)}


def _is_picture(path: Path) -> bool:
    """A still picture, as Pillow opens it (a video's container is not one)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) == 1
    except (UnidentifiedImageError, OSError):
        return False
