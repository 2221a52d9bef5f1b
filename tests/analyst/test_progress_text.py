"""How progress reads on the pages: whole percent rounded down, time left in words."""

from __future__ import annotations

from aima_web.analyst.templatetags.progress_text import eta, percent


def test_percent_is_rounded_down_and_bounded():
    assert [percent(f) for f in (None, 0.0, 0.1786, 0.996, 1.0, 1.2, -0.1)] == [
        0, 0, 17, 99, 100, 100, 0]


def test_eta_reads_as_a_person_says_it():
    assert [eta(s) for s in (None, 0.0, 44.6, 200, 3600, 7500.4)] == [
        "-", "0 s", "45 s", "3 min 20 s", "1 h 00 min", "2 h 05 min"]
