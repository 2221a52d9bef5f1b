"""Detections linked across sampled frames into tracks. (The join of the track lists
of a video's consecutive segments runs on the control plane:
``aima_tasks.kernel.analyses.merges.stitch_tracks``.)

ByteTrack's association with a constant-velocity Kalman filter, plus
re-identification. Confident detections are matched to the tracks' predicted boxes
first; weak ones only extend tracks still unmatched (a weak detection is usually a
real person half hidden, rarely a new one); only confident detections open tracks. A
track unseen for a moment is kept "lost" for REID_S seconds: a new confident detection
whose torso colours (``Detection.appearance``) match it, near where the filter
predicts, continues it under its old id. That is what keeps one id for a person who
walks behind a pillar for a second or two.

Our own rather than ``supervision``'s ByteTrack: that has no appearance re-id, works
on its own Detections type, and would pull av, matplotlib, scipy, requests and
pydeprecate onto every agent for some 150 lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aima_tasks.kernel.analyses.boxes import Box, iou

HIGH_SCORE = 0.5  # a detection this sure may open a track
LOW_SCORE = 0.2  # below this a detection is ignored altogether
MATCH_IOU = 0.3  # confident detection <-> predicted track box
LOW_MATCH_IOU = 0.5  # weak detections must overlap more to extend a track
MAX_MISSES = 5  # samples a track is matched by overlap while unseen (1 s at 5 a second)
REID_S = 4.0  # a lost track may be picked up again by appearance this long
# Torso colour histograms (unit vectors) compared by dot product. Measured on the first
# 5 s of vtest.avi (8 tracks, small people in dark coats): samples of one track lie at
# 0.69 / 0.80 (quartile / median), of two tracks at 0.47 / 0.60 / 0.78 (median, upper
# quartile, 95th percentile). Colour alone is weak there; the distance gate
# (REID_REACH_HEIGHTS) does the rest.
REID_SIMILARITY = 0.75
# How far from the predicted centre a lost person may reappear: this many box heights,
# plus one for every second lost (people stop, turn, change speed behind things).
REID_REACH_HEIGHTS = 1.0
MIN_SAMPLES = 3  # shorter tracks are dropped as false alarms


@dataclass(frozen=True)
class Detection:
    label: str
    score: float  # 0..1, calibrated: the same meaning whichever detector saw it
    box: Box  # pixels of the picture the detector was given, or mapped back to the original
    source: str = ""  # which detectors saw it, e.g. "pose", "pose+face", "body", "onnx"
    # Per-sample extras carried into the track unchanged (e.g. the pose landmarks).
    extra: dict[str, Any] | None = None
    # A unit vector describing the person's look (torso colours), for re-identification.
    appearance: tuple[float, ...] | None = None


class Kalman:
    """Constant velocity in box centre, width and height; state [cx cy w h vx vy vw vh],
    velocities per second. Noise scales with the box height, as in ByteTrack/SORT."""

    def __init__(self, box: Box) -> None:
        x, y, w, h = box
        self.state = np.array([x + w / 2, y + h / 2, w, h, 0, 0, 0, 0], dtype=float)
        self.cov = np.diag(np.square([h / 10] * 4 + [h] * 4)).astype(float)

    def predicted(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        move = np.eye(8)
        move[:4, 4:] = np.eye(4) * dt
        h = max(self.state[3], 1.0)
        noise = np.diag(np.square([h / 20] * 4 + [h / 2] * 4)) * max(dt, 1e-3)
        return move @ self.state, move @ self.cov @ move.T + noise

    def update(self, dt: float, box: Box) -> None:
        state, cov = self.predicted(dt)
        x, y, w, h = box
        measured = np.array([x + w / 2, y + h / 2, w, h])
        observe = np.hstack([np.eye(4), np.zeros((4, 4))])
        noise = np.diag(np.square([max(h, 1.0) / 20] * 4))
        gain = cov @ observe.T @ np.linalg.inv(observe @ cov @ observe.T + noise)
        self.state = state + gain @ (measured - observe @ state)
        self.cov = (np.eye(8) - gain @ observe) @ cov

    def box_at(self, dt: float) -> Box:
        cx, cy, w, h = self.predicted(dt)[0][:4]
        w, h = max(w, 1.0), max(h, 1.0)
        return (cx - w / 2, cy - h / 2, w, h)


@dataclass
class Track:
    id: int
    label: str
    # (media seconds, box, score) per sample the track was seen on; missed samples
    # leave no entry, so the list grows by at most one per sampled frame.
    boxes: list[tuple[float, Box, float]] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)  # beside boxes, with "t"
    misses: int = 0
    filter: Kalman | None = None
    appearance: np.ndarray | None = None  # running average of its detections' looks

    @property
    def last_box(self) -> Box:
        return self.boxes[-1][1]

    def predicted(self, time_s: float) -> Box:
        assert self.filter is not None
        return self.filter.box_at(time_s - self.boxes[-1][0])

    def add(self, time_s: float, detection: Detection) -> None:
        if self.filter is None:
            self.filter = Kalman(detection.box)
        else:
            self.filter.update(time_s - self.boxes[-1][0], detection.box)
        self.boxes.append((time_s, detection.box, detection.score))
        if detection.extra is not None:
            self.extras.append({"t": round(time_s, 3), **detection.extra})
        if detection.appearance is not None:
            look = np.asarray(detection.appearance, dtype=float)
            # Slow to change: a person half hidden for one sample keeps their look.
            self.appearance = look if self.appearance is None else \
                0.8 * self.appearance + 0.2 * look
        self.misses = 0

    def similarity(self, detection: Detection) -> float:
        if self.appearance is None or detection.appearance is None:
            return 0.0
        mine = self.appearance / (np.linalg.norm(self.appearance) or 1.0)
        return float(mine @ np.asarray(detection.appearance, dtype=float))


class ByteTracker:
    """Feed it the detections of each sampled frame in time order, then ``finish()``."""

    def __init__(self, high_score: float = HIGH_SCORE, low_score: float = LOW_SCORE,
                 max_misses: int = MAX_MISSES, min_samples: int = MIN_SAMPLES,
                 reid_s: float = REID_S) -> None:
        self.high_score, self.low_score = high_score, low_score
        self.max_misses, self.min_samples, self.reid_s = max_misses, min_samples, reid_s
        self._active: list[Track] = []
        self._lost: list[Track] = []
        self._ended: list[Track] = []
        self._next_id = 1

    def update(self, time_s: float, detections: Iterable[Detection]) -> None:
        usable = [d for d in detections if d.score >= self.low_score]
        high = [d for d in usable if d.score >= self.high_score]
        low = [d for d in usable if d.score < self.high_score]
        unmatched_tracks = list(self._active)
        unmatched_high = _match(time_s, unmatched_tracks, high, MATCH_IOU)
        _match(time_s, unmatched_tracks, low, LOW_MATCH_IOU)
        for track in unmatched_tracks:
            track.misses += 1
            if track.misses > self.max_misses:
                self._active.remove(track)
                self._lost.append(track)
        self._retire(time_s)
        for detection in unmatched_high:
            track = self._reidentified(time_s, detection)
            if track is None:
                track = Track(self._next_id, detection.label)
                self._next_id += 1
            track.add(time_s, detection)
            self._active.append(track)

    def _retire(self, time_s: float) -> None:
        for track in list(self._lost):
            if time_s - track.boxes[-1][0] > self.reid_s:
                self._lost.remove(track)
                self._ended.append(track)

    def _reidentified(self, time_s: float, detection: Detection) -> Track | None:
        """The lost (or long-missed) track this newcomer looks like, near where it was
        heading; taken out of the lost list."""
        best, best_similarity = None, REID_SIMILARITY
        for track in self._lost + [t for t in self._active if t.misses > 0]:
            if track.label != detection.label:
                continue
            away = time_s - track.boxes[-1][0]
            gx, gy, gw, gh = track.predicted(time_s)
            x, y, w, h = detection.box
            reach = (REID_REACH_HEIGHTS + away) * max(gh, h)
            if np.hypot(x + w / 2 - gx - gw / 2, y + h / 2 - gy - gh / 2) > reach:
                continue
            similarity = track.similarity(detection)
            if similarity > best_similarity:
                best, best_similarity = track, similarity
        if best is not None:
            (self._lost if best in self._lost else self._active).remove(best)
        return best

    def finish(self) -> list[Track]:
        """The tracks seen often enough, in order of appearance, numbered 1..n."""
        everything = self._ended + self._lost + self._active
        kept = [t for t in everything if len(t.boxes) >= self.min_samples]
        kept.sort(key=lambda t: (t.boxes[0][0], t.id))
        for number, track in enumerate(kept, start=1):
            track.id = number
        return kept


def _match(time_s: float, tracks: list[Track], detections: list[Detection],
           min_iou: float) -> list[Detection]:
    """Greedy assignment, best overlap with the predicted box first; matched tracks
    leave ``tracks``. Returns the detections no track took. Greedy is enough here: a
    sampled frame holds a handful of people, not the crowds where Hungarian
    assignment pays off."""
    pairs = []
    for ti, track in enumerate(tracks):
        guess = track.predicted(time_s)
        for di, detection in enumerate(detections):
            overlap = iou(guess, detection.box) if detection.label == track.label else 0.0
            if overlap >= min_iou:
                pairs.append((overlap, ti, di))
    taken_tracks: set[int] = set()
    taken_detections: set[int] = set()
    for _, ti, di in sorted(pairs, reverse=True):
        if ti in taken_tracks or di in taken_detections:
            continue
        tracks[ti].add(time_s, detections[di])
        taken_tracks.add(ti)
        taken_detections.add(di)
    tracks[:] = [t for i, t in enumerate(tracks) if i not in taken_tracks]
    return [d for i, d in enumerate(detections) if i not in taken_detections]


def track_to_dict(track: Track) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": track.id,
        "label": track.label,
        "start_s": round(track.boxes[0][0], 3),
        "end_s": round(track.boxes[-1][0], 3),
        "samples": len(track.boxes),
        "boxes": [{"t": round(t, 3), "box": [round(v) for v in box], "score": round(s, 3)}
                  for t, box, s in track.boxes],
    }
    if track.extras:
        result["poses"] = track.extras
    return result
