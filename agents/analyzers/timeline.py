"""Joins of the speech results of consecutive media segments, for the control plane.

A long file is analysed in time segments that run in parallel; each part already holds
media times, so joining is concatenation plus mending what the cut broke. Pure Python:
the control plane imports this without numpy or ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

# A speech segment cut by a part boundary ends there in one part and starts there in
# the next; the two parts' padding and window grid leave at most a few windows between.
BOUNDARY_GAP_S = 0.1


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


def join_transcripts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One transcribe result from those of consecutive segments, in order.

    A word the cut went through stays as each part heard it (often two fragments).
    """
    _require(parts)
    return {
        "model": parts[0]["model"],
        "language": parts[0]["language"],
        "text": " ".join(part["text"] for part in parts if part["text"]),
        "words": [dict(word) for part in parts for word in part["words"]],
        "duration_s": round(sum(part["duration_s"] for part in parts), 3),
    }


def _meet(before: dict[str, float], after: dict[str, float]) -> bool:
    return after["start_s"] - before["end_s"] <= BOUNDARY_GAP_S


def _require(parts: list[dict[str, Any]]) -> None:
    if not parts:
        raise ValueError("no parts to join")  # a job has at least one segment
