"""Server-rendered SVG charts: stacked bars, one per day, no script.

Numbers go into attributes as numbers; every text (labels, a bar's tip in its
<title>) goes through format_html and is escaped, so the markup is safe to
put into a page as is. Each bar's <title> is the browser's own tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 22, 22


@dataclass(frozen=True)
class Series:
    name: str
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    values: tuple[float, ...]
    tip: str


def _n(value: float) -> str:
    """A coordinate as a plain number (never locale-formatted, never NaN)."""
    return f"{value:.2f}" if value == value else "0"


def _scale_top(peak: float) -> float:
    """A round number at or above the tallest bar, for the axis."""
    if peak <= 0:
        return 1.0
    step = 10 ** (len(str(int(peak))) - 1) if peak >= 1 else 0.1
    while step * 10 < peak:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= peak:
            return step * factor
    return step * 10


def stacked_bars(chart_id: str, title: str, unit: str, series: Sequence[Series],
                 bars: Sequence[Bar]) -> SafeString:
    """An <svg> of ``bars`` (one value per series each, stacked bottom up)."""
    top = _scale_top(max((sum(max(v, 0.0) for v in bar.values) for bar in bars), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    parts = [_axis(top, unit, plot_w, plot_h)]
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + slot * 0.1
        base = TOP + plot_h
        rects = []
        for value, kind in zip(bar.values, series, strict=True):
            height = max(value, 0.0) / top * plot_h
            base -= height
            rects.append(format_html('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                                     _n(x), _n(base), _n(slot * 0.8), _n(height), kind.colour))
        # Each rect went through format_html: joined, they are still safe.
        parts.append(format_html('<g class="bar"><title>{}</title>{}</g>', bar.tip,
                                 mark_safe("".join(rects))))
    if bars:
        parts.append(_labels(bars[0].label, bars[-1].label, plot_w))
    legend = format_html_join(" ", '<tspan fill="{}">&#9632;</tspan> {}',
                              ((kind.colour, kind.name) for kind in series))
    return format_html(
        '<svg id="{}" class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}'
        '<text x="{}" y="{}" class="legend" text-anchor="end">{}</text></svg>',
        chart_id, WIDTH, HEIGHT, title, title, mark_safe("".join(parts)),
        WIDTH - RIGHT, 12, legend)


def _axis(top: float, unit: str, plot_w: float, plot_h: float) -> SafeString:
    lines = []
    for share in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - share)
        lines.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="grid"/>'
            '<text x="{}" y="{}" text-anchor="end" class="tick">{} {}</text>',
            LEFT, _n(y), _n(LEFT + plot_w), _n(y), LEFT - 4, _n(y + 4),
            f"{top * share:g}", unit))
    return mark_safe("".join(lines))  # each part went through format_html


def _labels(first: str, last: str, plot_w: float) -> SafeString:
    y = HEIGHT - 6
    return format_html('<text x="{}" y="{}" class="tick">{}</text>'
                       '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
                       LEFT, y, first, _n(LEFT + plot_w), y, last)
