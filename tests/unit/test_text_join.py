"""The join of the text analysis's video segments (pure Python, on the control plane)
and its report section."""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses.catalogue import catalogue
from aima_tasks.kernel.analyses.screen_text import TEXT, join_text, screen_text
from aima_tasks.kernel.analyses.sections import Slot
from aima_tasks.kernel.analyses.spec import MediaType

MODEL = {"name": "ppocr-v4-text-detector", "version": "1.4.4"}


def line(text: str, start: float, end: float, conf: float = 0.9,
         box: tuple[int, ...] = (40, 290, 300, 30)) -> dict[str, Any]:
    return {"text": text, "box": list(box), "confidence": conf, "start_s": start, "end_s": end}


def part(*lines: dict[str, Any], frames: int = 3) -> dict[str, Any]:
    return {"model": MODEL, "width": 640, "height": 360, "frames_analysed": frames,
            "lines": list(lines), "text": "\n".join(x["text"] for x in lines)}


def test_a_line_crossing_the_boundary_becomes_one() -> None:
    joined = join_text([part(line("Intro", 0.0, 2.0), line("Grüße aus München", 5.0, 10.0)),
                        part(line("Grüße aus München", 10.0, 12.5, conf=0.95),
                             line("Straße 12", 12.5, 15.0))])
    assert [(x["text"], x["start_s"], x["end_s"]) for x in joined["lines"]] == [
        ("Intro", 0.0, 2.0), ("Grüße aus München", 5.0, 12.5), ("Straße 12", 12.5, 15.0)]
    assert joined["lines"][1]["confidence"] == 0.95
    assert joined["text"] == "Intro\nGrüße aus München\nStraße 12"
    assert joined["frames_analysed"] == 6 and joined["model"] == MODEL
    assert (joined["width"], joined["height"]) == (640, 360)


def test_the_same_text_apart_in_time_stays_two_lines() -> None:
    """Gone before the boundary, back after it: two stays on screen, not one."""
    joined = join_text([part(line("Tor!", 1.0, 3.0), line("Spielstand 1:0", 3.0, 10.0)),
                        part(line("Tor!", 14.0, 16.0))])
    assert [(x["text"], x["start_s"]) for x in joined["lines"]] == [
        ("Tor!", 1.0), ("Spielstand 1:0", 3.0), ("Tor!", 14.0)]


def test_a_line_over_three_segments_and_whitespace() -> None:
    joined = join_text([part(line("Übermäßig  schön", 0.0, 10.0)),
                        part(line("Übermäßig schön", 10.0, 20.0)),
                        part(line("Übermäßig schön ", 20.0, 24.0))])
    assert [(x["start_s"], x["end_s"]) for x in joined["lines"]] == [(0.0, 24.0)]
    assert joined["text"] == "Übermäßig schön"


def test_empty_and_malformed_parts() -> None:
    assert join_text([])["lines"] == []
    joined = join_text([{"lines": None}, part(), {"lines": ["not a line"]}])
    assert joined["lines"] == [] and joined["text"] == ""


def test_report_section() -> None:
    video = part(line("Straße 12", 12.5, 15.0), line("Grüße aus München", 5.0, 12.5))
    assert [x["text"] for x in screen_text(video)] == ["Grüße aus München", "Straße 12"]
    picture = {"lines": [{"text": "Zweite Zeile", "box": [0, 50, 10, 10], "confidence": 0.9},
                         {"text": "", "box": [0, 0, 1, 1]}, "junk"]}
    assert screen_text(picture) == [{"text": "Zweite Zeile", "box": [0, 50, 10, 10],
                                     "confidence": 0.9}]
    assert screen_text({}) == []


def test_declared_in_the_catalogue() -> None:
    assert TEXT.media_types == frozenset({MediaType.IMAGE, MediaType.VIDEO})
    assert TEXT.sections[0].slot == Slot.TEXT and TEXT.segmentable
    assert TEXT.runner == "agents.analyzers.text:read_text"
    assert catalogue().specs["text"] is TEXT
