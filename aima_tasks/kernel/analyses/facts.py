"""Report facts: the few figures of a result the report page shows as labelled lines
("Loudness: -23.1 LUFS integrated, ..."), as pure functions from the result to plain
records.

An analysis declares its facts function on its spec; the page asks every analysis in
the catalogue for its facts and lays them out, so the wording lives here. Facts are
for the page only: the report's JSON carries the result itself. Results written by
older agents may lack any key: a missing value shows as "-" (or nothing), and a
result with none of the keys shows no fact at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from aima_tasks.kernel.analyses.sections import dicts, num

# A colour the page may put into a style attribute: nothing but "#" and six hex digits,
# so an agent's result can never carry CSS (or markup) into the page.
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Swatch:
    """A colour and its share of the picture, both ready to print."""

    hex: str
    share: str = ""

    def __post_init__(self) -> None:
        if not Swatch.valid(self.hex):
            raise ValueError(f"not a #rrggbb colour: {self.hex!r}")

    @staticmethod
    def valid(value: Any) -> bool:
        return isinstance(value, str) and _HEX_COLOUR.fullmatch(value) is not None


@dataclass(frozen=True)
class Fact:
    """One labelled line of the page: text, in monospace where ``code``, then swatches."""

    label: str
    text: str = ""
    code: bool = False
    swatches: tuple[Swatch, ...] = ()

    def __post_init__(self) -> None:
        # The page draws every swatch's hex into a style attribute: only checked ones.
        if not all(isinstance(s, Swatch) for s in self.swatches):
            raise TypeError("a fact's swatches must be Swatch records")


# The result's facts, in the order the page lists them; none where it has nothing to show.
Facts = Callable[[dict[str, Any]], list[Fact]]

_LOUDNESS_KEYS = ("integrated_lufs", "sample_peak_dbfs", "rms_dbfs")


def loudness(result: dict[str, Any]) -> list[Fact]:
    if all(result.get(key) is None for key in _LOUDNESS_KEYS):
        return []
    lufs, peak, rms = (_shown(result.get(key), "-") for key in _LOUDNESS_KEYS)
    return [Fact("Loudness", f"{lufs} LUFS integrated, peak {peak} dBFS, RMS {rms} dBFS")]


def hashes(result: dict[str, Any]) -> list[Fact]:
    if result.get("phash") is None and result.get("dhash") is None:
        return []
    text = f"{_shown(result.get('phash'), '')} / {_shown(result.get('dhash'), '')}"
    return [Fact("pHash / dHash", text, code=True)]


def colours(result: dict[str, Any]) -> list[Fact]:
    """The dominant colours whose code is a valid #rrggbb; the others are left out."""
    swatches = tuple(Swatch(c["hex"], _two_places(c.get("share")))
                     for c in dicts(result.get("colours")) if Swatch.valid(c.get("hex")))
    return [Fact("Colours", swatches=swatches)] if swatches else []


def _shown(value: Any, missing: str) -> str:
    return missing if value is None or value == "" else str(value)


def _two_places(value: Any) -> str:
    """A share to two places, halves rounded up as the page always printed them."""
    share = num(value)
    if share is None:
        return ""
    try:
        return str(Decimal(repr(share)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    except InvalidOperation:  # too large to hold two places: no share, only odder data
        return repr(share)
