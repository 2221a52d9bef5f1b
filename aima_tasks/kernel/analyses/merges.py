"""Joins of the results of consecutive media segments, for the control plane: the
``merge`` of each segmentable analysis's spec.

A long file is analysed in time segments that run in parallel; each part already holds
media times, so joining is concatenation plus mending what the cut broke. Pure Python:
the control plane (a small VPS without numpy, OpenCV or ONNX Runtime) runs these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aima_tasks.kernel.analyses.boxes import Box, centre, iou, shifted

# A speech segment cut by a part boundary ends there in one part and starts there in
# the next; the two parts' padding and window grid leave at most a few windows between.
BOUNDARY_GAP_S = 0.1
JOIN_GAP_S = 1.0  # tracks: one ending at most this long before another starts...
JOIN_IOU = 0.3  # ...where that one starts joins it


def join_speech(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One voice_activity result from those of consecutive segments, in order."""
    _require(parts)
    segments: list[dict[str, float]] = []
    for part in parts:
        following = [dict(segment) for segment in part["segments"]]
        if segments and following and _meet(segments[-1], following[0]):
            segments[-1]["end_s"] = max(segments[-1]["end_s"], following.pop(0)["end_s"])
        segments += following
    speech = sum(segment["end_s"] - segment["start_s"] for segment in segments)
    duration = sum(part["duration_s"] for part in parts)
    return {
        "model": parts[0]["model"],
        "threshold": parts[0]["threshold"],
        "segments": segments,
        "speech_s": round(speech, 3),
        "speech_share": round(speech / duration, 4) if duration else 0.0,
        "duration_s": round(duration, 3),
    }


def _meet(before: dict[str, float], after: dict[str, float]) -> bool:
    return after["start_s"] - before["end_s"] <= BOUNDARY_GAP_S


def _require(parts: list[dict[str, Any]]) -> None:
    if not parts:
        raise ValueError("no parts to join")  # a job has at least one segment


def stitch_tracks(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``track_video`` result from the results of consecutive segments, in order.

    A track that ends at most JOIN_GAP_S before a track of the next segment starts,
    where its last box (carried forward at its last speed) overlaps that one's first
    box, is the same person cut by the segment boundary: the two become one track.
    """
    if not parts:
        raise ValueError("no segment results to stitch")
    joined: list[dict[str, Any]] = []
    for part in parts:
        incoming = sorted(part.get("tracks", []), key=lambda t: t["start_s"])
        continued = _continuations(joined, incoming)
        for index, track in enumerate(incoming):
            if index in continued:
                _extend(continued[index], track)
            else:
                joined.append({**track, "boxes": list(track["boxes"])})
    joined.sort(key=lambda t: (t["start_s"], t["end_s"]))
    for number, track in enumerate(joined, start=1):
        track["id"] = number
    first = parts[0]
    return {
        **({"model": first["model"]} if "model" in first else {}),  # pose's results
        "detector": first.get("detector"),
        "sample_fps": first.get("sample_fps"),
        "frames_analysed": sum(int(p.get("frames_analysed", 0)) for p in parts),
        "width": first.get("width"),
        "height": first.get("height"),
        "tracks": joined,
        "track_count": len(joined),
    }


def _continuations(
    earlier: Sequence[dict[str, Any]], incoming: Sequence[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """incoming index -> the earlier track it continues; best overlap first, one to one."""
    pairs = []
    for ei, before in enumerate(earlier):
        for ii, after in enumerate(incoming):
            gap = after["start_s"] - before["end_s"]
            if before["label"] != after["label"] or not 0 < gap <= JOIN_GAP_S + 1e-6:
                continue
            guess = _carried_forward(before, after["start_s"])
            overlap = iou(guess, _box(after["boxes"][0]))
            if overlap >= JOIN_IOU:
                pairs.append((overlap, ei, ii))
    taken_earlier: set[int] = set()
    result: dict[int, dict[str, Any]] = {}
    for _, ei, ii in sorted(pairs, reverse=True):
        if ei not in taken_earlier and ii not in result:
            taken_earlier.add(ei)
            result[ii] = earlier[ei]
    return result


def _carried_forward(track: dict[str, Any], time_s: float) -> Box:
    boxes = track["boxes"]
    last = _box(boxes[-1])
    if len(boxes) < 2 or boxes[-1]["t"] <= boxes[-2]["t"]:
        return last
    (x0, y0), (x1, y1) = centre(_box(boxes[-2])), centre(last)
    step = (time_s - boxes[-1]["t"]) / (boxes[-1]["t"] - boxes[-2]["t"])
    return shifted(last, (x1 - x0) * step, (y1 - y0) * step)


def _box(entry: dict[str, Any]) -> Box:
    x, y, w, h = entry["box"]
    return (float(x), float(y), float(w), float(h))


def _extend(track: dict[str, Any], continuation: dict[str, Any]) -> None:
    track["boxes"].extend(continuation["boxes"])
    track["end_s"] = continuation["end_s"]
    if "poses" in track or "poses" in continuation:
        track["poses"] = [*track.get("poses", []), *continuation.get("poses", [])]
    if "summary" in track or "summary" in continuation:
        # Shares of the samples: averaged weighted by each part's samples.
        mine, theirs = track.get("summary", {}), continuation.get("summary", {})
        total = track["samples"] + continuation["samples"]
        track["summary"] = {
            key: round((mine.get(key, 0.0) * track["samples"]
                        + theirs.get(key, 0.0) * continuation["samples"]) / total, 3)
            for key in {**mine, **theirs}} if total else mine
    track["samples"] = track["samples"] + continuation["samples"]
