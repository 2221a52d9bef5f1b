"""A progress bar for long management commands: redrawn in place on a terminal, silent
anywhere else.

On a terminal a person watches the command, and one line rewritten with ``\\r`` shows
how far it is. In a log (cron, systemd, CI, a pipe) those rewrites would be hundreds of
lines of noise, and the commands print their own result line anyway, so there the bar
writes nothing at all. It writes to stderr by default, so a command's stdout (a table,
JSON) stays what it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TextIO, TypeVar

Item = TypeVar("Item")
WIDTH = 30


class ProgressBar:
    """``with ProgressBar(total, "label") as bar: ... bar.advance(n)``."""

    def __init__(self, total: float, label: str, stream: TextIO | None = None,
                 unit: str = "") -> None:
        self.total = max(float(total), 0.0)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.done = 0.0
        self._drawn: int | None = None  # the permille last drawn: redraw only on change
        self._drawn_done = 0.0

    def advance(self, amount: float = 1.0) -> None:
        self.update(self.done + amount)

    def update(self, done: float) -> None:
        self.done = min(max(done, 0.0), self.total) if self.total else max(done, 0.0)
        if not self.live:
            return
        self._draw(force=False)

    def _draw(self, force: bool) -> None:
        # Rounded down: 100 % only when all is done, never a moment early.
        permille = int(1000 * self.done / self.total + 1e-9) if self.total else 0
        if permille == self._drawn and not force:
            return
        self._drawn, self._drawn_done = permille, self.done
        filled = WIDTH * permille // 1000
        counts = f"{_number(self.done)}/{_number(self.total)}{self.unit}"
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                          f"{permille / 10:5.1f}% {counts}")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self._drawn is not None:
            if self.done != self._drawn_done:
                self._draw(force=True)  # the last figures, not those of the last redraw
            self.stream.write("\n")  # the next output starts on its own line
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        self.update(0.0)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def track(items: Iterable[Item], total: float, label: str, stream: TextIO | None = None,
          size: Callable[[Item], float] | None = None, unit: str = "") -> Iterator[Item]:
    """Yield ``items`` while a bar advances by one each (or by ``size(item)``)."""
    with ProgressBar(total, label, stream, unit) as bar:
        for item in items:
            yield item
            bar.advance(size(item) if size else 1)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
