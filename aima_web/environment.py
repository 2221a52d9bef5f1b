"""Reading settings from the environment: each value checked, a bad one named with
what to write instead (``aima_web/settings.py`` reads every knob through these)."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be a whole number") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name) or str(default)
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be a number") from None


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it: ``<count>/<second|minute|hour|day>``."""
    raw = os.environ.get(name) or default
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(f"{name}={raw!r}: use <count>/<second|minute|hour|day>")
    return raw
