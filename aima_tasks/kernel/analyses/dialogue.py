"""The transcript as a dialogue: who said what, when, in which language, joined from
the transcript's words (or utterances) and the speakers' turns. Pure Python: the
report runs it on the control plane.

A line: {"speaker": "S1" or None, "name": enrolled name or None, "start_s", "end_s",
"language", "text"}. A word goes to the turn that overlaps it most among those holding
its midpoint (else the turn nearest to it); consecutive words of one speaker in one
language form a line. Without turns, a line per utterance; a transcript of words only
(written before utterances existed) is broken into lines at pauses and sentence ends.
"""

from __future__ import annotations

import re
from typing import Any

from aima_tasks.kernel.analyses.sections import by_time, dicts, num

# Without utterances: a pause this long, or a sentence end, ends a line...
PAUSE_S = 1.0
MAX_WORDS = 14  # ...and so does this many words
# A line of one speaker is also broken at a pause this long, so that a monologue reads
# (and is found by a search) in pieces.
LONG_PAUSE_S = 3.0
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?%)\]}»])")


def lines(transcript: dict[str, Any], speakers: dict[str, Any] | None = None,
          ) -> list[dict[str, Any]]:
    """The dialogue of a transcript section (sections.transcript) and a speakers section
    ({"speakers": [{label, name}], "turns": [{speaker, start_s, end_s}]})."""
    default = _text(transcript.get("language")) or None
    utterances = _timed(transcript.get("utterances"))
    turns = _timed((speakers or {}).get("turns"))
    names = {s.get("label"): s.get("name") for s in dicts((speakers or {}).get("speakers"))}
    said = [_unit(u, "text", _text(u.get("language")) or default) for u in utterances]
    words = [_unit(w, "word", _text(w.get("language")) or _language(w, utterances, default))
             for w in _timed(transcript.get("words"))]
    if turns:
        found = _by_speaker(words or said, turns)
    elif said:
        found = [_line(None, [unit]) for unit in said]
    else:
        found = _by_pause(words)
    text = _text(transcript.get("text"))
    if not found and text:  # no times at all: the text as one line
        found = [{"speaker": None, "start_s": None, "end_s": None, "language": default,
                  "text": text}]
    return [{"speaker": line["speaker"], "name": names.get(line["speaker"]),
             **{k: v for k, v in line.items() if k != "speaker"}} for line in found]


def _by_speaker(units: list[dict[str, Any]], turns: list[dict[str, Any]],
                ) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    speaker = None
    for unit in units:
        who = _speaker(unit, turns)
        if held and (who != speaker or unit["language"] != held[-1]["language"]
                     or unit["start_s"] - held[-1]["end_s"] > LONG_PAUSE_S):
            found.append(_line(speaker, held))
            held = []
        held.append(unit)
        speaker = who
    if held:
        found.append(_line(speaker, held))
    return found


def _speaker(unit: dict[str, Any], turns: list[dict[str, Any]]) -> Any:
    """The speaker of the turn overlapping the unit most among those holding its
    midpoint; where none holds it (a word in a gap between turns), the nearest turn's."""
    middle = (unit["start_s"] + unit["end_s"]) / 2
    holding = [t for t in turns if t["start_s"] <= middle <= t["end_s"]]
    if holding:
        best = max(holding, key=lambda t: (min(t["end_s"], unit["end_s"])
                                           - max(t["start_s"], unit["start_s"])))
    else:
        best = min(turns, key=lambda t: max(t["start_s"] - middle, middle - t["end_s"]))
    return best.get("speaker")


def _by_pause(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for unit in units:
        if held and (unit["start_s"] - held[-1]["end_s"] > PAUSE_S or len(held) >= MAX_WORDS
                     or held[-1]["text"].endswith((".", "?", "!"))
                     or unit["language"] != held[-1]["language"]):
            found.append(_line(None, held))
            held = []
        held.append(unit)
    if held:
        found.append(_line(None, held))
    return found


def _line(speaker: Any, units: list[dict[str, Any]]) -> dict[str, Any]:
    text = " ".join(unit["text"] for unit in units if unit["text"])
    return {"speaker": speaker, "start_s": units[0]["start_s"], "end_s": units[-1]["end_s"],
            "language": units[0]["language"], "text": _SPACE_BEFORE.sub(r"\1", text)}


def _unit(item: dict[str, Any], key: str, language: str | None) -> dict[str, Any]:
    return {"start_s": item["start_s"], "end_s": item["end_s"], "language": language,
            "text": _text(item.get(key))}


def _language(word: dict[str, Any], utterances: list[dict[str, Any]],
              default: str | None) -> str | None:
    """A word's language: that of the utterance holding its midpoint, else the default."""
    middle = (word["start_s"] + word["end_s"]) / 2
    for utterance in utterances:
        if utterance["start_s"] <= middle <= utterance["end_s"]:
            return _text(utterance.get("language")) or default
    return default


def _timed(value: Any) -> list[dict[str, Any]]:
    """Items with a start (and an end no earlier; a missing end is the start), in time
    order, their times as floats."""
    found = []
    for item in dicts(value):
        start, end = num(item.get("start_s")), num(item.get("end_s"))
        if start is None:
            continue
        found.append({**item, "start_s": start, "end_s": max(start, end or start)})
    return by_time(found, "start_s", "end_s")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def search(found: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The lines whose text holds ``query`` (any case), each with its text in parts:
    [{"text", "mark": True where the query matched}]."""
    query = query.strip()
    if not query:
        return []
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    matched = []
    for line in found:
        text = str(line.get("text") or "")
        if pattern.search(text):
            matched.append({**line, "parts": marked(text, pattern)})
    return matched


def marked(text: str, pattern: re.Pattern[str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    cursor = 0
    for match in pattern.finditer(text):
        if match.start() > cursor:
            parts.append({"text": text[cursor:match.start()], "mark": False})
        parts.append({"text": match.group(), "mark": True})
        cursor = match.end()
    if cursor < len(text):
        parts.append({"text": text[cursor:], "mark": False})
    return parts
