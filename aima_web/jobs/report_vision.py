"""The report's vision sections: faces, text on screen, a timeline per person (each
track with the face clusters seen inside its boxes and the text on screen while it
is there) and the keyframes worth a thumbnail, with the boxes to draw on each.

Pure data from the results' sections (aima_tasks.kernel.analyses: people or pose
tracks, faces, text); the pictures themselves are made by ``report_frames``. Face
data is personal: only the fields listed here pass, never a descriptor or centroid,
whatever a section hands over.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from aima_tasks.kernel.analyses.sections import dicts, num

FACE_KEYS = ("t", "box", "score", "cluster", "name")
CLUSTER_KEYS = ("label", "name", "count", "first_s", "last_s")
LINE_KEYS = ("text", "box", "confidence", "start_s", "end_s")
# A face and a person box belong to one sample when this close in time (the faces
# analysis samples twice a second, people and pose several times a second).
SAMPLE_GAP_S = 0.5
# Thumbnails per report: enough to see each person and each caption, few enough to
# keep the page light (each is decoded from the media when the page is drawn).
KEYFRAMES = 8
KEYFRAME_GAP_S = 1.0


def faces(found: Any) -> dict[str, list[dict[str, Any]]]:
    found = found if isinstance(found, dict) else {}
    return {"faces": [{k: f.get(k) for k in FACE_KEYS if k in f}
                      for f in dicts(found.get("faces"))],
            "clusters": [{k: c.get(k) for k in CLUSTER_KEYS}
                         for c in dicts(found.get("clusters"))]}


def screen_text(found: Any) -> list[dict[str, Any]]:
    return [{k: line.get(k) for k in LINE_KEYS if k in line} for line in dicts(found)
            if isinstance(line.get("text"), str) and line["text"]]


def people(tracks: list[dict[str, Any]], seen: dict[str, list[dict[str, Any]]],
           lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per track: its span, the face clusters whose face boxes lie in its boxes (most
    often seen first) and the lines of text on screen while it is there."""
    names = {c.get("label"): c.get("name") for c in seen["clusters"]}
    timeline = []
    for track in tracks:
        start, end = num(track.get("start_s")), num(track.get("end_s"))
        counted = Counter(str(f["cluster"]) for f in seen["faces"]
                          if f.get("cluster") is not None and _inside(f, dicts(track.get("boxes"))))
        timeline.append({
            "id": track.get("id"), "label": track.get("label"), "start_s": start, "end_s": end,
            "samples": track.get("samples", len(dicts(track.get("boxes")))),
            "summary": track.get("summary") if isinstance(track.get("summary"), dict) else {},
            "gestures": [str(g) for g in track.get("gestures") or [] if g],
            "faces": [{"cluster": label, "name": names.get(label), "count": count}
                      for label, count in counted.most_common()],
            "text": list(dict.fromkeys(str(line["text"]) for line in lines
                                       if _overlaps(line, start, end)))})
    return timeline


def _inside(face: dict[str, Any], boxes: list[dict[str, Any]]) -> bool:
    """Whether the face's centre lies in the track's box of the nearest sample."""
    centre = _centre(face.get("box"))
    t = num(face.get("t"))
    near = [b for b in boxes if _close(t, num(b.get("t")))]
    if centre is None or not near:
        return False
    nearest = min(near, key=lambda b: abs((num(b.get("t")) or 0.0) - (t or 0.0)))
    return _contains(nearest.get("box"), centre)


def _close(a: float | None, b: float | None) -> bool:
    # Without a time (a picture, where some analyses give t 0 and others none), all
    # is one sample.
    return a is None or b is None or abs(a - b) <= SAMPLE_GAP_S


def _overlaps(line: dict[str, Any], start: float | None, end: float | None) -> bool:
    line_start, line_end = num(line.get("start_s")), num(line.get("end_s"))
    if line_start is None or start is None:
        return True  # a picture: its text is there as long as anyone in it
    return line_start <= (end if end is not None else start) and \
        (line_end if line_end is not None else line_start) >= start


def _xywh(box: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(box, list | tuple) or len(box) != 4:
        return None
    values = [num(v) for v in box]
    if any(v is None for v in values) or values[2] <= 0 or values[3] <= 0:  # type: ignore[operator]
        return None
    return values[0], values[1], values[2], values[3]  # type: ignore[return-value]


def _centre(box: Any) -> tuple[float, float] | None:
    xywh = _xywh(box)
    return None if xywh is None else (xywh[0] + xywh[2] / 2, xywh[1] + xywh[3] / 2)


def _contains(box: Any, point: tuple[float, float]) -> bool:
    xywh = _xywh(box)
    return xywh is not None and xywh[0] <= point[0] <= xywh[0] + xywh[2] and \
        xywh[1] <= point[1] <= xywh[1] + xywh[3]


def keyframes(tracks: list[dict[str, Any]], seen: dict[str, list[dict[str, Any]]],
              lines: list[dict[str, Any]], detections: list[dict[str, Any]],
              picture: bool) -> list[dict[str, Any]]:
    """The moments to show, each with the boxes found then (person, face, text,
    object): a sample from the middle of each track, the middle of each text line,
    then the first face of each cluster; one moment per KEYFRAME_GAP_S, KEYFRAMES at
    most, in time order. A picture has one, at t None."""
    if picture:
        boxes = _boxes_at(None, tracks, seen, lines, detections)
        return [{"t": None, "boxes": boxes}] if boxes else []
    moments: list[float] = []
    for track in tracks:
        samples = [t for t in (num(b.get("t")) for b in dicts(track.get("boxes")))
                   if t is not None]
        if samples:
            moments.append(samples[len(samples) // 2])
    for line in lines:
        start, end = num(line.get("start_s")), num(line.get("end_s"))
        if start is not None:
            moments.append(start if end is None else (start + end) / 2)
    firsts: dict[str, float] = {}
    for face in seen["faces"]:
        t, cluster = num(face.get("t")), str(face.get("cluster"))
        if t is not None and t < firsts.get(cluster, math.inf):
            firsts[cluster] = t
    moments += sorted(firsts.values())
    chosen: list[float] = []
    for moment in moments:
        if len(chosen) < KEYFRAMES and all(abs(moment - c) >= KEYFRAME_GAP_S for c in chosen):
            chosen.append(round(moment, 3))
    return [{"t": t, "boxes": _boxes_at(t, tracks, seen, lines, detections)}
            for t in sorted(chosen)]


def _boxes_at(t: float | None, tracks: list[dict[str, Any]],
              seen: dict[str, list[dict[str, Any]]], lines: list[dict[str, Any]],
              detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    boxes: list[dict[str, Any]] = []
    for track in tracks:
        near = [b for b in dicts(track.get("boxes")) if _close(t, num(b.get("t")))]
        if near:
            best = min(near, key=lambda b: abs((num(b.get("t")) or 0.0) - (t or 0.0)))
            boxes.append({"kind": "person", "box": best.get("box"),
                          "label": f"{track.get('label') or 'person'} #{track.get('id')}"})
    nearest: dict[str, dict[str, Any]] = {}
    for face in seen["faces"]:
        key = str(face.get("cluster"))
        gap = abs((num(face.get("t")) or 0.0) - (t or 0.0))
        if _close(t, num(face.get("t"))) and (
                key not in nearest or gap < abs((num(nearest[key].get("t")) or 0.0) - (t or 0.0))):
            nearest[key] = face
    boxes += [{"kind": "face", "box": f.get("box"),
               "label": f.get("name") or f.get("cluster") or "face"} for f in nearest.values()]
    boxes += [{"kind": "text", "box": line.get("box"), "label": line.get("text")}
              for line in lines if _overlaps(line, t, t)]
    boxes += [{"kind": "object", "box": d.get("box"), "label": d.get("label")}
              for d in detections if _close(t, num(d.get("t")))]
    return [b for b in boxes if _xywh(b["box"]) is not None]


def sections(tracks: Any, found_faces: Any, found_text: Any, detections: Any,
             picture: bool) -> dict[str, Any]:
    """The report's vision keys from the slots the analyses filled."""
    tracks, detections = dicts(tracks), dicts(detections)
    seen, lines = faces(found_faces), screen_text(found_text)
    return {"faces": seen, "screen_text": lines, "people": people(tracks, seen, lines),
            "keyframes": keyframes(tracks, seen, lines, detections, picture)}


# A face cluster's lane joins sightings this close into one bar.
SIGHTING_GAP_S = 1.5


def page(report: dict[str, Any], bar: Callable[..., dict[str, str]]) -> dict[str, Any]:
    """What the page draws of the vision keys: a lane per face cluster (its sightings
    as bars) and a lane of the text on screen; ``bar`` places an item on the timeline."""
    duration = report["timeline"]["duration_s"]
    lanes = []
    for cluster in report["faces"]["clusters"]:
        label = cluster.get("label")
        times = sorted(t for t in (num(f.get("t")) for f in report["faces"]["faces"]
                                   if f.get("cluster") == label) if t is not None)
        who = cluster.get("name") or label
        lanes.append({"name": str(who), "bars": [
            bar({"start_s": s, "end_s": e}, duration, "", f"face {who}: {s:.1f} - {e:.1f} s",
                "face") for s, e in _sightings(times)]})
    text_bars = [bar(line, duration, "", f"{line.get('text')}", "text")
                 for line in report["screen_text"] if num(line.get("start_s")) is not None]
    return {"face_lanes": [lane for lane in lanes if lane["bars"]], "text_bars": text_bars}


def _sightings(times: list[float]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for t in times:
        if spans and t - spans[-1][1] <= SIGHTING_GAP_S:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t, t))
    return spans
