"""Whole numbers read from text people write (settings, CSV cells): one
reading and one wording of what is wrong; each caller says where the text
came from and raises its own error."""

from __future__ import annotations


def whole_number(raw: str, least: int) -> int:
    """``raw`` as an integer of at least ``least``; otherwise a ValueError
    whose message finishes a sentence about ``raw``."""
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < least:
        raise ValueError(f"must be at least {least}")
    return value
