"""People in pictures (``detect_image``) and in videos, followed as tracks (``track_video``).

The built-in detector fuses several sources, none downloaded (aima_tasks.kernel.analyses.poses
pins their files): MediaPipe's pose detector with its 33 landmarks, its full-range face
detector, and OpenCV's HOG body detector. The pose model sees one person per call, so
it sweeps the frame (a person found is greyed out and the frame searched again) and
then looks at a square crop around every face or body the other sources found that no
pose explains. A person confirmed by landmarks gets the landmarks' box; the others keep
their own. Any object with ``detect(images) -> list[list[Detection]]`` can be one more
source (``FusedPeopleDetector(sources=...)``). A registry ONNX detector (``ctx.model``)
replaces the built-in fusion when the job was given one.

Scores are calibrated per source (``calibrated``) so that a score means the same
whichever detector saw the person; a person seen by several sources gets the noisy-OR
of their scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.analyzers import person_sources as sources
from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import iter_frames, load_image, video_meta
from agents.analyzers.onnx_detector import OnnxDetector
from agents.analyzers.person_sources import MAX_CROPS, CocoSource, Detector, PersonFinder
from agents.analyzers.pose_geometry import facing, posture, summary
from agents.analyzers.tracker import ByteTracker, Detection, track_to_dict
from aima_tasks.kernel.analyses.boxes import iou, overlap_of_smaller
from aima_tasks.kernel.analyses.coco import COCO_DETECTOR

SAMPLE_FPS = 5.0  # frames a second looked at: people do not come and go faster
IMAGE_SIDE = 800  # pictures are searched at most this large, boxes scaled back
VIDEO_SIDE = 640  # and video frames at most this large: 5 of them per media second
REPORT_SCORE = 0.5  # a picture's detections below this are left out
# One person seen by two sources: plain overlap, or one box mostly inside the other
# (a body box from a face is a guess; HOG also fires on parts of a large person).
SAME_PERSON_IOU = 0.45
SAME_PERSON_INSIDE = 0.6
TILE_CLEAR = 0.2  # a tile's find overlapping a swept person this much is that person


class FusedPeopleDetector:
    """People from every source, confirmed and boxed by pose landmarks where possible.

    ``extra``: more sources, each ``detect(images) -> list[list[Detection]]`` in the
    pixels of the images given, scores already calibrated as person_sources explains
    (e.g. agents/analyzers/coco.py's detector)."""

    def __init__(self, finder: PersonFinder, extra: Sequence[Detector] = (),
                 tiles: bool = False) -> None:
        self.finder, self.tiles = finder, tiles
        self.sources: list[Detector] = [*finder.sources, *extra]
        self.info = {"name": "mediapipe-pose+face+opencv-hog", **finder.info}

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        per_source = [source.detect(images) for source in self.sources]
        return [self._fused(image, [found[i] for found in per_source])
                for i, image in enumerate(images)]

    def _fused(self, rgb: np.ndarray, found: list[list[Detection]]) -> list[Detection]:
        people = self.finder.sweep(rgb)
        if self.tiles:
            # A tile holds part of a large person: it adds only people clear of those
            # the sweep found, never a second box on one of them.
            people += [t for t in merge_people(self.finder.tiles(rgb))
                       if all(overlap_of_smaller(t.box, p.box) < TILE_CLEAR for p in people)]
        candidates = sorted((d for group in found for d in group if d.label == "person"),
                            key=lambda d: -d.score)
        loose: list[Detection] = []
        crops = 0
        for candidate in candidates:
            if any(_same_person(candidate, p) for p in people):
                people = [_joined(p, candidate) if _same_person(candidate, p) else p
                          for p in people]
                continue
            crops += 1
            # The surest candidates first; a frame full of HOG hits costs at most this.
            confirmed = self.finder.around(rgb, candidate.box) if crops <= MAX_CROPS else None
            if confirmed is not None and not any(_same_person(confirmed, p) for p in people):
                people.append(_joined(confirmed, candidate))
            elif confirmed is None:
                loose.append(candidate)
        for candidate in loose:
            if not any(_same_person(candidate, p) for p in people):
                people.append(candidate)
        # Other things an extra source found (a COCO detector's cars, dogs) pass as
        # they are: the objects analysis lists them, the tracker follows people only.
        things = [d for group in found for d in group if d.label != "person"]
        return merge_people(people) + things


def merge_people(candidates: list[Detection]) -> list[Detection]:
    """Greedy suppression, surest first; a suppressed box adds its sources' evidence."""
    kept: list[Detection] = []
    for candidate in sorted(candidates, key=lambda d: -d.score):
        twin = next((k for k in kept if _same_person(candidate, k)), None)
        if twin is None:
            kept.append(candidate)
        else:
            kept[kept.index(twin)] = _joined(twin, candidate)
    return kept


def _same_person(a: Detection, b: Detection) -> bool:
    return iou(a.box, b.box) >= SAME_PERSON_IOU or \
        overlap_of_smaller(a.box, b.box) >= SAME_PERSON_INSIDE


def _joined(person: Detection, other: Detection) -> Detection:
    """``person`` (its box and landmarks), with ``other``'s evidence added once per
    source: noisy-OR of the calibrated scores."""
    mine = set(person.source.split("+"))
    new = [s for s in other.source.split("+") if s and s not in mine]
    if not new:
        return person
    score = 1 - (1 - person.score) * (1 - other.score)
    return Detection(person.label, score, person.box, "+".join([person.source, *new]),
                     person.extra, person.appearance)


def _detector(ctx: AnalysisContext, video: bool = False) -> tuple[Detector, dict[str, Any], int]:
    """The detector for this job, how to name it in the result, and its working size."""
    if ctx.model is not None:
        onnx = OnnxDetector(ctx.model, ctx.device, ctx.precision, ctx.batch_size)
        info = {"name": ctx.model.name, "version": ctx.model.version, "provider": onnx.provider}
        return onnx, info, onnx.input_side
    fused = FusedPeopleDetector(PersonFinder(ctx), extra=[CocoSource(ctx)], tiles=video)
    return fused, {**fused.info, "name": f"{fused.info['name']}+{COCO_DETECTOR.name}"}, 0


def _scaled(detection: Detection, sx: float, sy: float, width: int, height: int) -> Detection:
    x, y, w, h = detection.box
    x0, y0 = max(0.0, x * sx), max(0.0, y * sy)
    x1, y1 = min(float(width), (x + w) * sx), min(float(height), (y + h) * sy)
    extra = detection.extra
    if extra and "landmarks" in extra:
        extra = {**extra, "landmarks": [[round(px * sx, 1), round(py * sy, 1), v]
                                        for px, py, v in extra["landmarks"]]}
    return Detection(detection.label, detection.score, (x0, y0, x1 - x0, y1 - y0),
                     detection.source, extra, detection.appearance)


def people_in_image(path: Path, ctx: AnalysisContext) -> tuple[dict[str, Any], list[Detection]]:
    """The detector's description, the picture's size, and who is in it (full-size pixels)."""
    detector, info, model_side = _detector(ctx)
    loaded = load_image(path, max_side=max(IMAGE_SIDE, model_side))
    small = loaded.image  # at most that large: load_image reduces it
    sx, sy = loaded.width / small.width, loaded.height / small.height
    found = detector.detect([np.asarray(small)])[0]
    detections = [_scaled(d, sx, sy, loaded.width, loaded.height) for d in found
                  if d.score >= REPORT_SCORE]
    return {"detector": info, "width": loaded.width, "height": loaded.height}, detections


def detect_image(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    head, detections = people_in_image(path, ctx)
    return {
        **head,
        "detections": [{"label": d.label, "score": round(d.score, 3),
                        "box": [round(v) for v in d.box], "source": d.source}
                       for d in detections],
        "person_count": sum(d.label == "person" for d in detections),
    }


def follow(path: Path, ctx: AnalysisContext,
           each: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Track people over the video's sampled frames. ``each(rgb, detections)`` may
    return the detections with more per-sample extras (pose.py adds the hands).
    Returns the result's header and the tracks, each with its per-sample ``poses``."""
    detector, info, model_side = _detector(ctx, video=True)
    meta = video_meta(path)
    side = max(VIDEO_SIDE, model_side)
    reduce = min(1.0, side / max(meta.width, meta.height))
    work_w, work_h = max(1, round(meta.width * reduce)), max(1, round(meta.height * reduce))
    sx, sy = meta.width / work_w, meta.height / work_h
    tracker = ByteTracker()
    analysed = 0
    batch: list[tuple[float, np.ndarray]] = []

    def flush() -> None:
        for (time_s, pixels), found in zip(batch, detector.detect([p for _, p in batch]),
                                           strict=True):
            people = [sources.with_appearance(pixels, d) for d in found if d.label == "person"]
            if each is not None:
                people = each(pixels, people)
            tracker.update(time_s, [_scaled(d, sx, sy, meta.width, meta.height)
                                    for d in people])
        batch.clear()

    for frame in iter_frames(path, work_w, work_h, "rgb24", start_s=ctx.start_s,
                             end_s=ctx.end_s, step_s=1 / SAMPLE_FPS):
        batch.append((frame.time_s, frame.pixels))
        analysed += 1
        if len(batch) >= max(1, ctx.batch_size):
            flush()
    if batch:
        flush()
    tracks = [with_summary(track_to_dict(t)) for t in tracker.finish()]
    head = {"detector": info, "sample_fps": SAMPLE_FPS, "frames_analysed": analysed,
            "width": meta.width, "height": meta.height}
    return head, tracks


def with_summary(track: dict[str, Any]) -> dict[str, Any]:
    """The track with its pose summary, from the samples that had landmarks."""
    poses = [p for p in track.get("poses", []) if p.get("landmarks")]
    postures = [p.get("posture") or posture(p["landmarks"]) for p in poses]
    facings = [p.get("facing") or facing(p["landmarks"]) for p in poses]
    return {**track, "summary": summary(postures, facings)}


def track_video(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    head, tracks = follow(path, ctx)
    # The people analysis keeps the summary; the landmarks are the pose analysis's.
    tracks = [{k: v for k, v in t.items() if k != "poses"} for t in tracks]
    return {**head, "tracks": tracks, "track_count": len(tracks)}
