"""The analyses an agent runs: the catalogue's runners, imported on first use.

Each runner takes the path of a media file and an :class:`AnalysisContext` and
returns JSON-serialisable data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from agents.analyzers.context import AnalysisContext
from aima_tasks.kernel.analyses import catalogue

Analyzer = Callable[[Path, AnalysisContext], dict[str, Any]]


class UnknownAnalyzer(KeyError):
    """No analyser of that name on this agent."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: keep the message readable.
        return str(self.args[0]) if self.args else "unknown analyser"


@cache
def load(dotted: str) -> Callable[..., Any]:
    """The function a ``module:function`` reference names."""
    module, _, function = dotted.partition(":")
    return getattr(import_module(module), function)


def runner(name: str) -> Analyzer:
    specs = catalogue().specs
    try:
        spec = specs[name]
    except KeyError:
        raise UnknownAnalyzer(
            f"no analyser named {name!r}; this agent runs {', '.join(sorted(specs))}"
        ) from None
    return load(spec.runner)


def run(name: str, path: Path, ctx: AnalysisContext | None = None) -> dict[str, Any]:
    return runner(name)(Path(path), ctx or AnalysisContext())
