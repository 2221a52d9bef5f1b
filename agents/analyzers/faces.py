"""Faces: found by MediaPipe's full-range face detector, aligned on dlib's five
landmarks, described by dlib's 128-d ResNet descriptor and clustered by average link
on cosine distance, so that the same face at 0:12 and at 3:40 is one cluster.

The result follows aima_tasks.kernel.analyses.faces; each cluster carries its centroid
so that the control plane can join segments (join_faces), and an enrolled face
(ctx.references, registry task "face-enrolment") close enough to a centroid names it.
Pictures are one sample; videos are sampled SAMPLE_FPS times a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dlib
import numpy as np

from agents.analyzers.clustering import cluster
from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import iter_frames, load_image, video_meta
from agents.analyzers.mediapipe_graphs import face_graph
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses.boxes import Box, iou, overlap_of_smaller
from aima_tasks.kernel.analyses.faces import (
    DISTANCE_THRESHOLD,
    FACE_DESCRIPTOR,
    FACE_LANDMARKS,
    FACES,
    NAME_THRESHOLD,
)
from aima_tasks.kernel.analyses.poses import FACE_FULL_RANGE
from aima_tasks.kernel.analyses.spec import MediaType
from aima_tasks.kernel.probe import sniff

SAMPLE_FPS = 2.0  # faces do not come and go faster; each one costs a descriptor
VIDEO_SIDE = 1280  # frames are searched at most this large, boxes scaled back
IMAGE_SIDE = 1600
EMBEDDING_SIZE = 128
# MediaPipe's scores: real faces on our photographs score 0.76-0.96; blurred faces a
# few pixels high in a stadium crowd (messi5.jpg) 0.65-0.66, and nothing else 0.3+.
MIN_SCORE = 0.7
# The detector sees the picture at 192x192: a face under ~40 px in a 640 px frame is
# lost. So it also looks at overlapping square tiles at most TILE_SIDE large, each
# TILE_STEP of a tile from the one before (the basketball player's 30 px face in a 640
# px frame is found only there; 2x2 tiles on 640x480, 4x2 on 1280x720).
TILE_SIDE = 448
TILE_STEP = 0.7
# One face found twice (whole frame and tile, or two tiles): plain overlap, or a cut
# copy mostly inside the whole one.
SAME_FACE_IOU = 0.3
SAME_FACE_INSIDE = 0.6
MAX_FACES_PER_FRAME = 20  # the largest; a crowd is not described face by face
# Average-link clustering costs the square of the faces in memory: beyond this many,
# an evenly spread subset founds the clusters and the rest join the nearest one.
MAX_CLUSTERED = 1500
ALIGN_PADDING = 0.25  # dlib's own default for its face chips


@dataclass(frozen=True)
class Face:
    box: Box  # x, y, w, h in the picture's pixels
    score: float
    descriptor: np.ndarray  # unit length, 128 floats
    t: float | None = None


class FaceFinder:
    """Detection, alignment and description on one RGB picture at a time."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self._detector = face_graph(ctx)
        descriptor = ctx.built_in(FACE_DESCRIPTOR.name)
        self._landmarks, self._descriptor = _dlib_models(
            str(ctx.built_in(FACE_LANDMARKS.name).path), str(descriptor.path))
        self.info = {"name": descriptor.name, "version": descriptor.version,
                     "detector": FACE_FULL_RANGE.name}

    def find(self, rgb: np.ndarray, t: float | None = None) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        found = self.detect(rgb)
        if not found:
            return []
        shapes = dlib.full_object_detections()
        for (x, y, w, h), _ in found:
            shapes.append(self._landmarks(rgb, dlib.rectangle(
                round(x), round(y), round(x + w), round(y + h))))
        vectors = np.array(self._descriptor.compute_face_descriptor(
            rgb, shapes, 0, ALIGN_PADDING), dtype=np.float32).reshape(len(found), -1)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [Face(box, score, vector, t)
                for (box, score), vector in zip(found, vectors, strict=True)]

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        """Face boxes with their scores, the whole picture and its tiles searched, one
        box per face, at most MAX_FACES_PER_FRAME (the largest)."""
        height, width = rgb.shape[:2]
        found = self._detect_in(rgb, (0, 0, width, height))
        for x0, y0, side in tiles(width, height):
            tile = np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
            found += self._detect_in(tile, (x0, y0, width, height))
        kept: list[tuple[Box, float]] = []
        for box, score in sorted(found, key=lambda f: -f[1]):
            if not any(_same_face(box, other) for other, _ in kept):
                kept.append((box, score))
        return sorted(kept, key=lambda f: -f[0][2] * f[0][3])[:MAX_FACES_PER_FRAME]

    def _detect_in(self, rgb: np.ndarray,
                   place: tuple[int, int, int, int]) -> list[tuple[Box, float]]:
        """Faces in a tile at (x0, y0) of a frame (width, height). A face the tile cuts
        where the frame goes on is left out: the tile beside it or the whole frame
        sees it whole (the cut box would score high and lie off the face's centre)."""
        x0, y0, frame_w, frame_h = place
        height, width = rgb.shape[:2]
        found = []
        for detection in self._detector.process(rgb).detections or []:
            score = float(detection.score[0])
            relative = detection.location_data.relative_bounding_box
            left, top = relative.xmin * width, relative.ymin * height
            right, bottom = left + relative.width * width, top + relative.height * height
            cut_inside = (left < 0 < x0, top < 0 < y0,
                          right > width and x0 + width < frame_w,
                          bottom > height and y0 + height < frame_h)
            if any(cut_inside):
                continue
            left, top = max(0.0, left), max(0.0, top)
            right, bottom = min(float(width), right), min(float(height), bottom)
            if score >= MIN_SCORE and right > left and bottom > top:
                found.append(((x0 + left, y0 + top, right - left, bottom - top), score))
        return found


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """(left, top, side) of the square tiles covering a frame; none where one tile
    would be the whole frame."""
    side = min(TILE_SIDE, width, height)
    if side == width and side == height:
        return []

    def starts(length: int) -> list[int]:
        count = math.ceil(max(0, length - side) / (side * TILE_STEP)) + 1
        return [round(i * (length - side) / max(1, count - 1)) for i in range(count)]

    return [(x0, y0, side) for y0 in starts(height) for x0 in starts(width)]


# Kept per process: loading the descriptor's 22 MB costs about 0.1 s, a picture's work.
@cache
def _dlib_models(landmarks: str, descriptor: str) -> tuple[Any, Any]:
    return dlib.shape_predictor(landmarks), dlib.face_recognition_model_v1(descriptor)


def _same_face(a: Box, b: Box) -> bool:
    return iou(a, b) >= SAME_FACE_IOU or overlap_of_smaller(a, b) >= SAME_FACE_INSIDE


def faces(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """The faces of a picture, or of a video's frames in [ctx.start_s, ctx.end_s)
    (media times), clustered into F1, F2 ... in order of first appearance."""
    finder = FaceFinder(ctx)
    if sniff(path) == MediaType.IMAGE:
        loaded = load_image(path, max_side=IMAGE_SIDE)
        scale = loaded.width / loaded.image.width
        found = [_scaled(f, scale) for f in finder.find(np.asarray(loaded.image))]
        extra: dict[str, Any] = {"width": loaded.width, "height": loaded.height}
    else:
        found, extra = _video_faces(path, ctx, finder)
    enrolled = [read_enrolment(ref.path) for ref in ctx.references]
    return {"model": finder.info, **described(found, enrolled), **extra}


def _video_faces(path: Path, ctx: AnalysisContext,
                 finder: FaceFinder) -> tuple[list[Face], dict[str, Any]]:
    meta = video_meta(path)
    reduce = min(1.0, VIDEO_SIDE / max(meta.width, meta.height))
    work_w, work_h = max(1, round(meta.width * reduce)), max(1, round(meta.height * reduce))
    found: list[Face] = []
    analysed = 0
    for frame in iter_frames(path, work_w, work_h, "rgb24", start_s=ctx.start_s,
                             end_s=ctx.end_s, step_s=1 / SAMPLE_FPS):
        analysed += 1
        found += [_scaled(f, meta.width / work_w) for f in finder.find(frame.pixels, frame.time_s)]
    end_s = ctx.end_s if ctx.end_s is not None else meta.duration_s
    duration = max(0.0, (end_s or 0.0) - ctx.start_s)
    return found, {"sample_fps": SAMPLE_FPS, "frames_analysed": analysed,
                   "width": meta.width, "height": meta.height,
                   "duration_s": round(duration, 3)}


def _scaled(face: Face, scale: float) -> Face:
    x, y, w, h = face.box
    return Face((x * scale, y * scale, w * scale, h * scale), face.score, face.descriptor,
                face.t)


def described(found: list[Face], enrolled: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The result's faces and clusters: clustered, labelled by first appearance, named
    after the enrolled faces close enough."""
    if not found:
        return {"faces": [], "clusters": []}
    groups = face_groups(np.stack([f.descriptor for f in found]))
    order = list(dict.fromkeys(int(g) for _, g in sorted(
        zip(found, groups, strict=True), key=lambda fg: (fg[0].t or 0.0, fg[0].box[0]))))
    clusters = [_cluster(f"F{rank + 1}", [f for f, g in zip(found, groups, strict=True)
                                         if g == group])
                for rank, group in enumerate(order)]
    names = _names([np.asarray(c["centroid"]) for c in clusters], enrolled)
    for index, name in names.items():
        clusters[index]["name"] = name
    label = {group: clusters[rank] for rank, group in enumerate(order)}
    shown = []
    for face, group in sorted(zip(found, groups, strict=True), key=lambda fg: fg[0].t or 0.0):
        item: dict[str, Any] = {} if face.t is None else {"t": round(face.t, 3)}
        shown.append({**item, "box": [round(v) for v in face.box],
                      "score": round(face.score, 3), "cluster": label[int(group)]["label"],
                      "name": label[int(group)]["name"]})
    return {"faces": shown, "clusters": clusters}


def face_groups(descriptors: np.ndarray) -> np.ndarray:
    """A cluster number per face (average link, DISTANCE_THRESHOLD); with more than
    MAX_CLUSTERED faces an evenly spread subset founds the clusters."""
    if len(descriptors) <= MAX_CLUSTERED:
        return cluster(descriptors, DISTANCE_THRESHOLD)
    founding = np.linspace(0, len(descriptors) - 1, MAX_CLUSTERED).round().astype(np.int64)
    founded = cluster(descriptors[founding], DISTANCE_THRESHOLD)
    groups = np.unique(founded)
    centroids = np.stack([descriptors[founding][founded == g].mean(axis=0) for g in groups])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return groups[np.argmax(descriptors @ centroids.T, axis=1)]


def _cluster(label: str, members: list[Face]) -> dict[str, Any]:
    centroid = np.mean([f.descriptor for f in members], axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    times = [f.t for f in members if f.t is not None]
    return {"label": label, "name": None, "count": len(members),
            "first_s": round(min(times), 3) if times else None,
            "last_s": round(max(times), 3) if times else None,
            "centroid": [round(float(x), 4) for x in centroid]}


def _names(centroids: list[np.ndarray], enrolled: list[tuple[str, np.ndarray]]) -> dict[int, str]:
    """Each enrolled face names the cluster nearest to it, if within NAME_THRESHOLD; of
    two enrolled faces near one cluster, the nearer names it."""
    best: dict[int, tuple[float, str]] = {}
    for name, face in enrolled:
        distances = [1.0 - float(np.dot(face, c)) for c in centroids]
        nearest = int(np.argmin(distances))
        if distances[nearest] < min(NAME_THRESHOLD, best.get(nearest, (np.inf, ""))[0]):
            best[nearest] = (distances[nearest], name)
    return {index: name for index, (_, name) in best.items()}


def face_of(photos: Iterable[Path]) -> np.ndarray:
    """The enrolment descriptor of one person: the mean of their face's descriptors on
    the photos, each of which must show exactly one face, all of them the same one."""
    finder = FaceFinder(AnalysisContext(builtin=packaged_models(FACES.models)))
    descriptors = []
    for photo in photos:
        if not photo.is_file():
            raise ValueError(f"{photo}: no such file")
        try:
            picture = np.asarray(load_image(photo, max_side=IMAGE_SIDE).image)
        except (OSError, ValueError):
            raise ValueError(f"{photo}: not a picture that can be read") from None
        found = finder.find(picture)
        if len(found) != 1:
            raise ValueError(f"{photo}: {len(found) or 'no'} faces found, it needs exactly one")
        descriptors.append(found[0].descriptor)
    if not descriptors:
        raise ValueError("no photo given")
    together = np.stack(descriptors)
    if (1.0 - together @ together.T).max() >= DISTANCE_THRESHOLD:
        raise ValueError("the photos show more than one person")
    mean = together.mean(axis=0)
    return mean / np.linalg.norm(mean)


def enrolment(name: str, embedding: np.ndarray) -> str:
    """An enrolled face as the registry stores it (task "face-enrolment")."""
    return json.dumps({"name": name, "embedding": [round(float(x), 6) for x in embedding]})


def read_enrolment(path: Path) -> tuple[str, np.ndarray]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        data = {}
    try:
        vector = np.asarray(data.get("embedding"), dtype=np.float32)
    except (TypeError, ValueError):
        vector = np.zeros(0, np.float32)
    if not isinstance(data.get("name"), str) or vector.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"{path} is no enrolled face: it needs a name and 128 floats")
    return data["name"], vector / (np.linalg.norm(vector) or 1.0)
