"""Body pose per person (33 MediaPipe landmarks, posture, facing) and hand gestures,
on pictures and on videos (``pose``). It reuses the people pipeline in-process: the
people detector already computes the landmarks of everyone it confirms; this adds
landmarks for people found without them (a crop around the person) and the hands.

Gestures come from MediaPipe's hand landmarks (21 points) by the rule in
pose_geometry.gesture: open palm, fist, pointing, other. A hand belongs to the person
whose box holds its wrist.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.analyzers import mediapipe_graphs
from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import load_image
from agents.analyzers.people import IMAGE_SIDE, _scaled, follow, people_in_image, with_summary
from agents.analyzers.pose_geometry import gesture
from agents.analyzers.tracker import Detection
from aima_tasks.kernel.analyses.boxes import Box

HAND_MARGIN = 0.15  # the crop searched for hands: the person's box, this much larger


class Hands:
    def __init__(self, ctx: AnalysisContext) -> None:
        self._graph = mediapipe_graphs.hands_graph(ctx)

    def of(self, rgb: np.ndarray, box: Box) -> list[dict[str, Any]]:
        """The hands in ``box`` (pixels of ``rgb``): side, gesture, 21 points."""
        x, y, w, h = box
        x0, y0 = max(0, round(x - HAND_MARGIN * w)), max(0, round(y - HAND_MARGIN * h))
        x1 = min(rgb.shape[1], round(x + (1 + HAND_MARGIN) * w))
        y1 = min(rgb.shape[0], round(y + (1 + HAND_MARGIN) * h))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        if crop.shape[0] < 16 or crop.shape[1] < 16:
            return []
        found = self._graph.process(crop)
        hands = []
        for points, side in zip(found.multi_hand_landmarks or [],
                                found.multi_handedness or [], strict=True):
            pixels = [[round(x0 + p.x * crop.shape[1], 1), round(y0 + p.y * crop.shape[0], 1)]
                      for p in points.landmark]
            wx, wy = pixels[0]
            if x <= wx <= x + w and y <= wy <= y + h:
                hands.append({"side": side.classification[0].label.lower(),
                              "gesture": gesture(pixels), "landmarks": pixels})
        return hands


def _with_hands(hands: Hands, rgb: np.ndarray, people: list[Detection]) -> list[Detection]:
    """Each person with a pose sample: landmarks (or none), posture, facing, hands."""
    posed = []
    for person in people:
        extra = dict(person.extra or {"landmarks": [], "posture": "unknown",
                                      "facing": "unknown"})
        extra["hands"] = hands.of(rgb, person.box)
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
