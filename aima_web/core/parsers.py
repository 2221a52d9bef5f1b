"""JSON request bodies with a bounded nesting depth.

No AIMA payload nests more than a few levels; a body nested thousands deep makes
``json`` raise RecursionError (a 500) and any recursive code after it slow. Such a
body is a 400 that says why.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_too_deep()) from None
        if depth_exceeds(data, MAX_DEPTH):
            raise ParseError(_too_deep())
        return data


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether lists and objects in ``data`` nest more than ``limit`` deep (iteratively,
    so the check itself cannot run out of stack)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else None)
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _too_deep() -> str:
    return f"JSON parse error - the body nests lists or objects more than {MAX_DEPTH} deep"
