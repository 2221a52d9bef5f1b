"""The dialogue join of transcript words and speaker turns, and its search."""

from __future__ import annotations

import re

from aima_tasks.kernel.analyses.dialogue import lines, marked, search


def word(text: str, start: float, end: float, language: str | None = None) -> dict:
    found = {"word": f" {text}", "start_s": start, "end_s": end, "confidence": 0.9}
    return found if language is None else {**found, "language": language}


def turn(speaker: str, start: float, end: float) -> dict:
    return {"speaker": speaker, "start_s": start, "end_s": end}


SPEAKERS = {"speakers": [{"label": "S1", "name": "Anna"}, {"label": "S2", "name": None}]}


def said(found: list[dict]) -> list[tuple]:
    return [(line["speaker"], line["language"], line["text"]) for line in found]


def test_a_word_goes_to_the_turn_over_its_midpoint():
    words = [word("hello", 0.0, 0.4), word("there.", 0.5, 1.0),
             # Straddles the change of turn at 1.3: its midpoint (1.35) is S2's.
             word("Hi", 1.2, 1.5), word("Anna.", 1.6, 2.0)]
    found = lines({"language": "en", "words": words},
                  {**SPEAKERS, "turns": [turn("S2", 1.3, 2.1), turn("S1", 0.0, 1.3)]})
    assert said(found) == [("S1", "en", "hello there."), ("S2", "en", "Hi Anna.")]
    assert [(line["name"], line["start_s"], line["end_s"]) for line in found] == [
        ("Anna", 0.0, 1.0), (None, 1.2, 2.0)]


def test_overlapping_turns_the_one_overlapping_the_word_most():
    found = lines({"words": [word("both", 1.0, 2.0)]},
                  {"turns": [turn("S1", 0.0, 1.6), turn("S2", 1.2, 3.0)]})
    assert said(found) == [("S2", None, "both")]


def test_a_word_between_turns_goes_to_the_nearest():
    found = lines({"words": [word("a", 0.0, 0.5), word("b", 1.9, 2.0), word("c", 3.0, 3.5)]},
                  {"turns": [turn("S1", 0.0, 1.0), turn("S2", 2.2, 4.0)]})
    assert said(found) == [("S1", None, "a"), ("S2", None, "b c")]


def test_a_change_of_language_starts_a_line():
    utterances = [{"start_s": 0.0, "end_s": 1.0, "language": "de", "text": "Guten Tag."},
                  {"start_s": 1.0, "end_s": 2.0, "language": "en", "text": "Good day."}]
    words = [word("Guten", 0.0, 0.4), word("Tag.", 0.5, 0.9),  # languages from utterances
             word("Good", 1.1, 1.4), word("day.", 1.5, 1.9)]
    transcript = {"language": "de", "utterances": utterances, "words": words}
    found = lines(transcript, {"turns": [turn("S1", 0.0, 2.0)]})
    assert said(found) == [("S1", "de", "Guten Tag."), ("S1", "en", "Good day.")]
    # Without speakers, a line per utterance.
    assert said(lines(transcript)) == [(None, "de", "Guten Tag."), (None, "en", "Good day.")]


def test_a_long_pause_breaks_a_speakers_line():
    found = lines({"words": [word("one", 0.0, 0.5), word("two", 5.0, 5.5)]},
                  {"turns": [turn("S1", 0.0, 6.0)]})
    assert said(found) == [("S1", None, "one"), ("S1", None, "two")]


def test_turns_without_words_assign_utterances():
    utterances = [{"start_s": 0.0, "end_s": 1.0, "language": "en", "text": " First."},
                  {"start_s": 1.2, "end_s": 2.0, "language": "en", "text": " Second."}]
    found = lines({"utterances": utterances}, {"turns": [turn("S1", 0.0, 1.1),
                                                         turn("S2", 1.1, 2.0)]})
    assert said(found) == [("S1", "en", "First."), ("S2", "en", "Second.")]


def test_old_transcripts_of_words_or_text_only():
    words = [word("hello", 0.0, 0.3), word("world", 0.4, 0.8), word("again", 2.5, 3.0)]
    assert said(lines({"language": "en-us", "words": words})) == [
        (None, "en-us", "hello world"), (None, "en-us", "again")]
    assert lines({"text": "no times here"}) == [
        {"speaker": None, "name": None, "start_s": None, "end_s": None, "language": None,
         "text": "no times here"}]
    assert lines({}) == [] and lines({"words": "junk", "utterances": [1, None]}) == []


def test_malformed_items_are_left_out():
    words = [word("ok", 1.0, 1.5), {"word": "no time"}, "junk", {"start_s": "soon"},
             {"word": "no end", "start_s": 2.0}]
    found = lines({"words": words}, {"turns": [turn("S1", 0.0, 3.0), {"speaker": "S9"}]})
    assert said(found) == [("S1", None, "ok no end")]


def test_search_marks_every_match_in_any_case():
    found = lines({"words": [word("Ja,", 0.0, 0.2), word("ja", 0.3, 0.5),
                             word("nein.", 0.6, 0.9), word("Gut.", 3.0, 3.2)]})
    matched = search(found, " JA ")
    assert len(matched) == 1
    assert matched[0]["parts"] == [{"text": "Ja", "mark": True}, {"text": ", ", "mark": False},
                                   {"text": "ja", "mark": True},
                                   {"text": " nein.", "mark": False}]
    assert search(found, "") == [] and search(found, "zebra") == []
    assert search(found, "(") == []  # a term, not a pattern
    assert marked("a.b", re.compile(re.escape("."))) == [
        {"text": "a", "mark": False}, {"text": ".", "mark": True}, {"text": "b", "mark": False}]
