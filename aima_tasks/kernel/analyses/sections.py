"""Report sections: what an analysis's result shows in the job report beyond its raw
data, as pure functions from the result to plain JSON-ready data.

An analysis declares its sections on its spec; the report asks every analysis in
the catalogue for them, so the shapes live here and the report only lays them out.
Results written by older agents may lack any key: a missing or malformed value
leaves its field empty rather than failing the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Slot(StrEnum):
    """Where in the report a section goes."""

    TRACKS = "tracks"  # timeline: people followed across frames
    DETECTIONS = "detections"  # timeline: things found in a picture
    SHOTS = "shots"  # timeline: shots between cuts
    TRANSCRIPT = "transcript"  # the words spoken
    SPEECH = "speech"  # the speech map: speech and silence spans
    SPEAKERS = "speakers"  # timeline and dialogue: who spoke when
    EVENTS = "events"  # timeline: sound events (speech, music, singing)
    FACES = "faces"  # timeline: faces, clustered into the people they belong to
    TEXT = "text"  # text read on screen or in a picture


@dataclass(frozen=True)
class Section:
    slot: Slot
    # The result's keys the section shows, its list of timed items first (their
    # end_s tell the media's length when the probe does not); the report shows the
    # rest of the result as the analysis's summary.
    keys: tuple[str, ...]
    build: Callable[[dict[str, Any]], Any]
    # Where several analyses found fill one slot, the lowest rank fills it.
    rank: int = 0


def tracks(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = [{**track, "boxes": by_time(dicts(track.get("boxes")), "t")}
             for track in dicts(result.get("tracks"))]
    return by_time(found, "start_s", "end_s")


def detections(result: dict[str, Any]) -> list[dict[str, Any]]:
    """In time order where detections have a time (video); the best first within it."""
    return sorted(dicts(result.get("detections")),
                  key=lambda d: (num(d.get("t")) or 0.0, -(num(d.get("score")) or 0.0)))


def shots(result: dict[str, Any]) -> list[dict[str, Any]]:
    return by_time(dicts(result.get("shots")), "start_s", "index")


def transcript(result: dict[str, Any]) -> dict[str, Any]:
    """The words, the utterances (a transcript from before utterances has none) and the
    seconds spoken per language."""
    words = by_time(dicts(result.get("words")), "start_s", "end_s")
    text = result.get("text")
    if not isinstance(text, str) or not text:
        text = " ".join(str(w.get("word", "")).strip() for w in words)
    languages = result.get("languages")
    return {"language": result.get("language"), "text": text, "words": words,
            "utterances": by_time(dicts(result.get("utterances")), "start_s", "end_s"),
            "languages": ({str(k): v for k, v in languages.items() if num(v) is not None}
                          if isinstance(languages, dict) else {})}


def speech(result: dict[str, Any]) -> dict[str, Any]:
    """Spans where someone speaks (voice activity)."""
    return _heard("speech", result)


def silence(result: dict[str, Any]) -> dict[str, Any]:
    """Spans of quiet: everything else counts as speech (music too, a known coarseness)."""
    return _heard("silence", result)


def _heard(found: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"found": found, "spans": merged_spans(dicts(result.get("segments"))),
            "duration_s": num(result.get("duration_s"))}


def empty(slot: Slot) -> Any:
    """What a slot holds when no analysis of the job fills it."""
    if slot == Slot.TRANSCRIPT:
        return transcript({})
    if slot == Slot.SPEAKERS:
        return {"speakers": [], "turns": []}
    return None if slot == Slot.SPEECH else []


def speech_map(heard: dict[str, Any] | None, duration: float | None) -> list[dict[str, Any]]:
    """Speech and silence spans covering [0, duration] without gaps, alternating, from
    what a SPEECH section found."""
    if heard is None:
        return []
    found = heard["found"]
    other = "silence" if found == "speech" else "speech"
    spans = heard["spans"]
    total = duration or heard["duration_s"] or (spans[-1][1] if spans else 0)
    items: list[dict[str, Any]] = []
    cursor = 0.0
    for start, end in spans:
        start, end = max(start, cursor), min(end, total)
        if end <= start:
            continue
        if start > cursor:
            items.append({"start_s": cursor, "end_s": start, "kind": other})
        items.append({"start_s": start, "end_s": end, "kind": found})
        cursor = end
    if cursor < total:
        items.append({"start_s": cursor, "end_s": round(total, 3), "kind": other})
    return items


def merged_spans(segments: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Sorted, rounded to the millisecond, overlaps and touching spans joined (segmented
    jobs can report one span twice where their time segments meet)."""
    spans = sorted((round(s, 3), round(e, 3)) for s, e in
                   ((num(x.get("start_s")), num(x.get("end_s"))) for x in segments)
                   if s is not None and e is not None and e > s)
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((max(start, 0.0), end))
    return merged


# Tolerant readers of result data -------------------------------------------

def by_time(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: tuple(num(item.get(k)) or 0.0 for k in keys))


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
