"""The trail as JSON Lines or CSV, with each row's hashes, and read back.

An outside party re-verifies an export with ``chain.digest`` (SHA-256 over the
sorted-key, compact, ASCII JSON of seq, created_at, actor, action, subject,
detail and prev_hash) and by following each row's prev_hash to the row before.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, TextIO

from aima_web.audit.models import AuditEvent

FORMATS = ("jsonl", "csv")
COLUMNS = ("id", "seq", "created_at", "actor", "action", "subject", "detail",
           "prev_hash", "hash")


class ExportError(ValueError):
    """An export file that cannot be read as one."""


def rows(since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """The events from ``since`` on (all without it), oldest first."""
    events = AuditEvent.objects.order_by("seq")
    if since is not None:
        events = events.filter(created_at__gte=since)
    return (event.chain_fields() for event in events.iterator(chunk_size=2000))


def write(events: Iterator[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Write the rows as ``fmt``; how many were written."""
    if fmt == "csv":
        sheet = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        sheet.writeheader()

        def put(row: dict[str, Any]) -> None:
            sheet.writerow({**row, "detail": json.dumps(row["detail"], sort_keys=True)})
    else:
        def put(row: dict[str, Any]) -> None:
            out.write(json.dumps(row, sort_keys=True) + "\n")
    count = 0
    for row in events:
        put(row)
        count += 1
    return count


def read(source: TextIO, fmt: str) -> Iterator[dict[str, Any]]:
    """The rows of an export, as ``write`` wrote them."""
    if fmt == "csv":
        for line_no, row in enumerate(csv.DictReader(source), start=2):
            yield _typed(row, line_no, json_detail=True)
    else:
        for line_no, line in enumerate(source, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ExportError(f"line {line_no}: not JSON ({exc})") from None
                yield _typed(row, line_no, json_detail=False)


def _typed(row: Any, line_no: int, json_detail: bool) -> dict[str, Any]:
    try:
        typed = {name: row[name] for name in COLUMNS}
        typed["id"], typed["seq"] = int(typed["id"]), int(typed["seq"])
        if json_detail:
            typed["detail"] = json.loads(typed["detail"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"line {line_no}: not an audit row ({exc.__class__.__name__}: "
                          f"{exc})") from None
    return typed
