"""How a job's progress reads on a page (the analysts' pages and the job report):
``{% load progress_text %}``, then ``fraction|percent`` and ``eta_seconds|eta``."""

from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def percent(fraction: float | None) -> int:
    """Whole percent, rounded down: a job at 99.6 % does not read as done."""
    if fraction is None:
        return 0
    return min(max(math.floor(float(fraction) * 100), 0), 100)


@register.filter
def eta(seconds: float | None) -> str:
    """Time left as a person says it: "45 s", "3 min 20 s", "2 h 05 min"; "-" unknown."""
    if seconds is None:
        return "-"
    left = max(round(float(seconds)), 0)
    hours, rest = divmod(left, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
