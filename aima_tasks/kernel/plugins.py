"""Entry-point plugins, by name: how AIMA finds providers and analyses that
installed packages declare."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points


def claimed(group: str) -> dict[str, EntryPoint]:
    """The group's entry points by name; the first installed distribution to claim a
    name keeps it."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=group):
        found.setdefault(point.name, point)
    return found
