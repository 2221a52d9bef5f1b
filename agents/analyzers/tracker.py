"""Detections linked across sampled frames into tracks. (The join of the track lists
of a video's consecutive segments runs on the control plane:
``aima_tasks.kernel.analyses.merges.stitch_tracks``.)

The tracker follows ByteTrack's idea without its Kalman filter: confident detections
are matched to the tracks first, weak ones only extend tracks that missed (a weak
detection is usually a real person half hidden, rarely a new one), and only confident
detections open tracks. A track is predicted forward at its last measured speed, so two
people crossing keep their identities; it survives a few missed samples and is dropped
at the end when it was seen too few times to be more than a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aima_tasks.kernel.analyses.boxes import Box, centre, iou, shifted

HIGH_SCORE = 0.5  # a detection this sure may open a track
LOW_SCORE = 0.2  # below this a detection is ignored altogether
MATCH_IOU = 0.3  # confident detection <-> predicted track box
LOW_MATCH_IOU = 0.5  # weak detections must overlap more to extend a track
MAX_MISSES = 5  # samples a track may go unseen (1 s at 5 samples a second)
MIN_SAMPLES = 3  # shorter tracks are dropped as false alarms


@dataclass(frozen=True)
class Detection:
    label: str
    score: float  # 0..1
    box: Box  # pixels of the picture the detector was given, or mapped back to the original
    source: str = ""  # which detector saw it: "body", "face", "onnx"


@dataclass
class Track:
    id: int
    label: str
    # (media seconds, box, score) per sample the track was seen on; missed samples
    # leave no entry, so the list grows by at most one per sampled frame.
    boxes: list[tuple[float, Box, float]] = field(default_factory=list)
    misses: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box centre, pixels per second

    @property
    def last_box(self) -> Box:
        return self.boxes[-1][1]

    def predicted(self, time_s: float) -> Box:
        elapsed = time_s - self.boxes[-1][0]
        return shifted(self.last_box, self.velocity[0] * elapsed, self.velocity[1] * elapsed)

    def add(self, time_s: float, detection: Detection) -> None:
        if self.boxes:
            last_t, last_box, _ = self.boxes[-1]
            if time_s > last_t:
                (x0, y0), (x1, y1) = centre(last_box), centre(detection.box)
                speed = ((x1 - x0) / (time_s - last_t), (y1 - y0) / (time_s - last_t))
                # Half new, half old: one jittery box must not fling the prediction away.
                if len(self.boxes) > 1:
                    speed = (
                        (speed[0] + self.velocity[0]) / 2,
                        (speed[1] + self.velocity[1]) / 2,
                    )
                self.velocity = speed
        self.boxes.append((time_s, detection.box, detection.score))
        self.misses = 0


class IouTracker:
    """Feed it the detections of each sampled frame in time order, then ``finish()``."""

    def __init__(
        self,
        high_score: float = HIGH_SCORE,
        low_score: float = LOW_SCORE,
        max_misses: int = MAX_MISSES,
        min_samples: int = MIN_SAMPLES,
    ) -> None:
        self.high_score = high_score
        self.low_score = low_score
        self.max_misses = max_misses
        self.min_samples = min_samples
        self._active: list[Track] = []
        self._ended: list[Track] = []
        self._next_id = 1

    def update(self, time_s: float, detections: Iterable[Detection]) -> None:
        usable = [d for d in detections if d.score >= self.low_score]
        high = [d for d in usable if d.score >= self.high_score]
        low = [d for d in usable if d.score < self.high_score]
        unmatched_tracks = list(self._active)
        unmatched_high = self._match(time_s, unmatched_tracks, high, MATCH_IOU)
        self._match(time_s, unmatched_tracks, low, LOW_MATCH_IOU)
        for track in unmatched_tracks:
            track.misses += 1
            if track.misses > self.max_misses:
                self._active.remove(track)
                self._ended.append(track)
        for detection in unmatched_high:
            track = Track(self._next_id, detection.label)
            self._next_id += 1
            track.add(time_s, detection)
            self._active.append(track)

    def _match(
        self, time_s: float, tracks: list[Track], detections: list[Detection], min_iou: float
    ) -> list[Detection]:
        """Greedy assignment, best overlap first; matched tracks leave ``tracks``.

        Returns the detections no track took. Greedy is enough here: a sampled frame
        holds a handful of people, not the crowds where Hungarian assignment pays off.
        """
        pairs = []
        for ti, track in enumerate(tracks):
            guess = track.predicted(time_s)
            for di, detection in enumerate(detections):
                if detection.label != track.label:
                    continue
                overlap = iou(guess, detection.box)
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

    def finish(self) -> list[Track]:
        """The tracks seen often enough, in order of appearance, numbered 1..n."""
        kept = [t for t in self._ended + self._active if len(t.boxes) >= self.min_samples]
        kept.sort(key=lambda t: (t.boxes[0][0], t.id))
        for number, track in enumerate(kept, start=1):
            track.id = number
        return kept


def track_to_dict(track: Track) -> dict[str, Any]:
    return {
        "id": track.id,
        "label": track.label,
        "start_s": round(track.boxes[0][0], 3),
        "end_s": round(track.boxes[-1][0], 3),  # the last sample it was seen on
        "samples": len(track.boxes),
        "boxes": [
            {"t": round(t, 3), "box": [round(v) for v in box], "score": round(score, 3)}
            for t, box, score in track.boxes
        ],
    }

