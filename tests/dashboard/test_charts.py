"""The dashboard's SVG charts and its wait filter, on their own."""

from __future__ import annotations

import math

import pytest

from aima_web.dashboard import charts
from aima_web.dashboard.templatetags.dashboard import duration
from tests.dashboard.html import parse

SERIES = [charts.Series("local", "#3d6fd1"), charts.Series("cloud", "#e08a2c")]


def test_bars_stack_on_a_round_scale_and_texts_are_escaped():
    bars = [charts.Bar("2026-03-01", (3.0, 4.0), "<script>alert(1)</script>"),
            charts.Bar("2026-03-02", (0.0, 0.0), "quiet")]
    markup = str(charts.stacked_bars("c", "Cost & more", "USD", SERIES, bars))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    svg = parse(markup).by_id("c")
    assert svg.attrs["aria-label"] == "Cost & more"
    groups = svg.having("class", "bar", tag="g")
    assert len(groups) == 2
    # The tallest bar (7) on a scale topped at 10: the plot is 156 units high.
    local, cloud = (r.attrs for r in groups[0].having("height", tag="rect"))
    assert (local["height"], cloud["height"]) == ("46.80", "62.40")
    # The cloud part sits on the local one.
    assert float(cloud["y"]) + float(cloud["height"]) == pytest.approx(float(local["y"]))
    assert "10 USD" in svg.text() and "2026-03-01" in svg.text()


def test_an_empty_chart_still_draws():
    svg = parse(str(charts.stacked_bars("e", "Nothing", "h", SERIES, []))).by_id("e")
    assert svg.having("class", "bar") == []


def test_waits_read_as_words():
    assert [duration(s) for s in (None, math.inf, 0, 44.6, 600, 3600, 3 * 3600 + 300,
                                  50 * 3600)] == [
        "-", "never", "0 s", "45 s", "10 min", "1 h 00 min", "3 h 05 min", "2 d 2 h"]
