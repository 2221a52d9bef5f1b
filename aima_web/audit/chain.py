"""The hash chain, as pure functions: canonical form, digest, and the walk.

Each event's hash covers its sequence number, time, actor, action, subject,
detail and the hash of the event before it, so that editing, deleting or
inserting a row anywhere breaks a link. The database, an export file and an
outside party's script all check the chain with these same functions.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# The prev_hash of the first event.
GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "created_at", "actor", "action", "subject", "detail", "prev_hash")
# Floats this large that are whole numbers come back from PostgreSQL's jsonb as
# integers (it prints 1e+20 as 100000000000000000000), so they are stored as such.
_EXACT_FLOAT = 2.0 ** 53


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data that reads back from the database unchanged,
    so that the stored detail and the hashed detail are the same document."""
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        # PostgreSQL refuses NUL in text and jsonb; a login name tried is attacker-chosen.
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) >= _EXACT_FLOAT else value
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((json_safe(v) for v in value), key=str)
    if isinstance(value, dt.datetime):
        return timestamp(value) if value.tzinfo else value.isoformat()
    # Decimal, date, time, UUID, Path and anything else: their text.
    return json_safe(str(value) if not isinstance(value, Decimal) else format(value, "f"))


def timestamp(when: dt.datetime) -> str:
    """The one spelling of an event's time that is hashed and exported."""
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """Sorted-key, compact, ASCII JSON of the hashed fields."""
    document = {name: fields[name] for name in HASHED_FIELDS}
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False).encode("ascii")


def digest(fields: Mapping[str, Any]) -> str:
    """The event's hash; ``fields`` holds ``created_at`` as :func:`timestamp` text."""
    return hashlib.sha256(canonical(fields)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first thing wrong at one row."""

    id: Any
    seq: int
    why: str

    def __str__(self) -> str:
        return f"row id={self.id} seq={self.seq}: {self.why}"


@dataclass
class Walk:
    """What walking the rows in sequence order found."""

    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    breaks: list[Break] = field(default_factory=list)
    # seq -> (id, hash) of the rows a checkpoint names.
    hashes: dict[int, tuple[Any, str]] = field(default_factory=dict)


def walk(rows: Iterable[Mapping[str, Any]], keep: set[int], start_seq: int = 1,
         start_hash: str | None = GENESIS) -> Walk:
    """Check every row against its own hash and its predecessor's.

    Rows come in ``seq`` order. After a break the walk goes on from the row
    as stored, so one deleted or edited row is reported once, not as a cascade.
    ``start_hash`` None accepts the first row's ``prev_hash`` (an export cut
    with ``--since``). The hashes of the seqs in ``keep`` are remembered.
    """
    result = Walk()
    expected_seq, expected_prev = start_seq, start_hash
    for row in rows:
        result.breaks.extend(_check(row, expected_seq, expected_prev))
        result.rows += 1
        if row["seq"] in keep:
            result.hashes[row["seq"]] = (row["id"], row["hash"])
        expected_seq, expected_prev = row["seq"] + 1, row["hash"]
        result.head_seq, result.head_hash = row["seq"], row["hash"]
    return result


def _check(row: Mapping[str, Any], seq: int, prev: str | None) -> Iterator[Break]:
    if row["seq"] != seq:
        missing = f"seq {seq}" if row["seq"] == seq + 1 else f"seq {seq}..{row['seq'] - 1}"
        yield Break(row["id"], row["seq"], f"sequence gap: {missing} missing (rows deleted)")
    elif prev is not None and row["prev_hash"] != prev:
        yield Break(row["id"], row["seq"],
                    f"prev_hash {row['prev_hash'][:12]}… is not the hash of seq {seq - 1} "
                    f"({prev[:12]}…): a row was replaced")
    if digest(row) != row["hash"]:
        yield Break(row["id"], row["seq"],
                    "its content does not hash to its stored hash (row edited)")
