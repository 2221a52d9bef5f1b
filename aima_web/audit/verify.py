"""Checking the trail: the chain's links, then the chain against the checkpoints."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aima_web.audit import chain, checkpoints
from aima_web.audit.models import AuditEvent


@dataclass
class Report:
    rows: int
    head_seq: int
    head_hash: str
    checkpoints: int  # checkpoints that verified and match the rows
    # Row problems first, in sequence order, then problems of the checkpoint file.
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"head seq {self.head_seq} hash {self.head_hash[:16]}…" if self.rows else "empty"
        anchored = (f"{self.checkpoints} checkpoint(s) match" if self.checkpoints
                    else "no checkpoint covers these rows yet, so deleting the newest of "
                         "them would go unnoticed")
        return f"audit trail intact: {self.rows} rows, {head}; {anchored}"


def database(entries: list[checkpoints.Entry]) -> Report:
    """The whole table, from seq 1, against every checkpoint."""
    rows = (event.chain_fields()
            for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000))
    return rows_against(rows, entries, complete=True)


def rows_against(rows: Iterable[Mapping[str, Any]], entries: list[checkpoints.Entry],
                 complete: bool) -> Report:
    """``rows`` in seq order against the checkpoint file's ``entries``.

    ``complete``: the rows are the whole trail up to now, so a checkpoint past
    their end means the newest rows were deleted. An export (possibly cut with
    ``--since``, possibly older than later checkpoints) is not complete: its first
    row's prev_hash is taken as given, and only checkpoints within it are checked.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        walked = chain.Walk()
    else:
        start = (1, chain.GENESIS) if complete else (first["seq"], None)
        keep = {e.checkpoint.seq for e in entries if e.checkpoint}
        walked = chain.walk(itertools.chain([first], rows), keep, *start)
    problems = [(b.seq, str(b)) for b in walked.breaks]
    matched = 0
    for entry in entries:
        problem = _against(entry, walked, complete, 1 if complete or not first else first["seq"])
        if problem:
            problems.append(problem)
        elif entry.checkpoint and entry.checkpoint.seq in walked.hashes:
            matched += 1
    problems.sort(key=lambda p: p[0])
    return Report(walked.rows, walked.head_seq, walked.head_hash, matched,
                  [text for _, text in problems])


def _against(entry: checkpoints.Entry, walked: chain.Walk, complete: bool,
             first_seq: int) -> tuple[float, str] | None:
    """What is wrong between one checkpoint line and the rows, sorted after every
    row problem for a file problem."""
    where = f"checkpoint line {entry.line_no}"
    cp = entry.checkpoint
    if cp is None:
        return float("inf"), f"{where}: {entry.problem}"
    if cp.seq > walked.head_seq:
        if not complete:
            return None
        return cp.seq, (f"row seq={walked.head_seq + 1}: missing — the table ends at seq "
                        f"{walked.head_seq} but {where} (at {cp.at}) recorded seq {cp.seq}: "
                        f"the newest rows were deleted")
    if cp.seq < first_seq:
        return None
    if cp.seq not in walked.hashes:
        return cp.seq, f"row seq={cp.seq}: named by {where} (at {cp.at}) but not in the table"
    row_id, row_hash = walked.hashes[cp.seq]
    if row_hash != cp.hash:
        return cp.seq, (f"row id={row_id} seq={cp.seq}: its hash is not the one {where} "
                        f"(at {cp.at}) recorded: the chain was rewritten up to here")
    return None
