"""The analyses an agent can run, one function per catalogue name.

Each takes the path of a media file and returns JSON-serialisable data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.analyzers.audio import loudness, silence
from agents.analyzers.image import colours, phash
from agents.analyzers.video import shots

Analyzer = Callable[[Path], dict[str, Any]]

ANALYZERS: dict[str, Analyzer] = {
    "shots": shots,
    "phash": phash,
    "colours": colours,
    "loudness": loudness,
    "silence": silence,
}


class UnknownAnalyzer(KeyError):
    """No analyser of that name on this agent."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: keep the message readable.
        return str(self.args[0]) if self.args else "unknown analyser"


def run(name: str, path: Path) -> dict[str, Any]:
    try:
        analyzer = ANALYZERS[name]
    except KeyError:
        raise UnknownAnalyzer(
            f"no analyser named {name!r}; this agent runs {', '.join(sorted(ANALYZERS))}"
        ) from None
    return analyzer(Path(path))
