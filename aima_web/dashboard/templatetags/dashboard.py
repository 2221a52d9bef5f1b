"""Filters the dashboard lays its figures out with."""

from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as a short wait: "45 s", "12 min", "3 h 05 min", "2 d 4 h";
    None is "-" (not known), infinity "never" (no schedule window opens)."""
    if seconds is None:
        return "-"
    if math.isinf(seconds):
        return "never"
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
