"""Django choices from the plain enums in ``aima_tasks``: each value is spelled
once, in the module that owns it, and the database and forms follow it."""

from __future__ import annotations

from enum import StrEnum


def choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs, labelled as Django's TextChoices would label them."""
    return [(member.value, member.name.replace("_", " ").title()) for member in enum]
