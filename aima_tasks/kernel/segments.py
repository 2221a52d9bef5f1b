"""Cutting long media into time segments, and the units of work a job becomes.

Analyses that can be joined (``AnalysisSpec.merge``) run once per segment, in
parallel; the others run once over the whole media. Plain data: the control
plane plans with it, agents receive its units.
"""

from __future__ import annotations

import math
from dataclasses import replace

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.work import AnalysisWork

Span = tuple[float, float]


def cut(duration_s: float | None, segment_s: float, max_segments: int) -> list[Span]:
    """Equal spans covering the media, or none where it is short enough to analyse whole.

    Equal rather than fixed-length-plus-remainder: no tiny last segment whose start-up
    cost outweighs its work.
    """
    if not duration_s or segment_s <= 0 or duration_s <= segment_s:
        return []
    count = min(max_segments, math.ceil(duration_s / segment_s))
    if count < 2:
        return []
    step = duration_s / count
    return [(round(i * step, 3), round((i + 1) * step, 3) if i < count - 1 else duration_s)
            for i in range(count)]


def units(work: AnalysisWork, spans: list[Span]) -> list[AnalysisWork]:
    """The messages a job's work is sent as: one per segment for the joinable analyses,
    one for the rest (over the whole media, as segment 0)."""
    if not spans:
        return [work]
    specs = catalogue().specs
    joinable = tuple(n for n in work.analyses if specs[n].segmentable)
    whole = tuple(n for n in work.analyses if not specs[n].segmentable)
    found = [replace(work, analyses=whole, segment=0, start_s=0.0, end_s=None)] if whole else []
    if joinable:
        found += [replace(work, analyses=joinable, segment=index, start_s=start, end_s=end)
                  for index, (start, end) in enumerate(spans)]
    return found


def expected_parts(analyses: list[str], spans: list[Span]) -> set[tuple[str, int]]:
    """Every (analysis, segment) whose result a finished job has."""
    parts = set()
    for name in analyses:
        spec = catalogue().specs.get(name)
        count = len(spans) if spans and spec is not None and spec.segmentable else 1
        parts.update((name, index) for index in range(count))
    return parts
