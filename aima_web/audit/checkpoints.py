"""Signed checkpoints of the chain's head, kept in a file outside the database.

A checkpoint (seq, hash, count, at) is signed with HMAC-SHA256 under a key
from the settings, never from the database: whoever can rewrite the table can
neither forge a checkpoint nor make an old one go away, so deleting the newest
events (which leaves a perfectly linked, shorter chain) is still detected.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from aima_web.audit import chain
from aima_web.audit.models import AuditEvent

# A checkpoint line is about 250 bytes; the last one lies within this many.
_TAIL_BYTES = 8192


class CheckpointError(Exception):
    """No checkpoint was written (the chain since the last one is broken, the last
    one does not verify, the file cannot be written), or the file cannot be read."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    count: int
    at: str

    def mac(self) -> str:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(_key(), body, "sha256").hexdigest()

    def line(self) -> str:
        return json.dumps({**asdict(self), "mac": self.mac()}, sort_keys=True)


@dataclass(frozen=True)
class Entry:
    """One line of the checkpoint file: its checkpoint, or why it is not one."""

    line_no: int
    checkpoint: Checkpoint | None
    problem: str = ""


def path() -> Path:
    return Path(settings.AIMA_AUDIT_CHECKPOINTS)


def read(file: Path) -> list[Entry]:
    if not file.exists():
        return []
    try:
        with file.open(encoding="utf-8", errors="replace") as lines:
            return [parse(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    except OSError as exc:
        raise CheckpointError(f"cannot read {file}: {exc.strerror}") from None


def parse(line_no: int, line: str) -> Entry:
    try:
        fields = json.loads(line)
        mac = fields.pop("mac")
        checkpoint = Checkpoint(seq=int(fields.pop("seq")), hash=str(fields.pop("hash")),
                                count=int(fields.pop("count")), at=str(fields.pop("at")))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return Entry(line_no, None, f"not a checkpoint ({exc.__class__.__name__}: {exc})")
    if fields:
        return Entry(line_no, None, f"unexpected fields {sorted(fields)}")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, checkpoint.mac()):
        return Entry(line_no, None, "its MAC does not verify (edited, or signed with another "
                                    "AIMA_AUDIT_KEY)")
    return Entry(line_no, checkpoint)


def write() -> Checkpoint | None:
    """Append a checkpoint of the current head, after checking the chain since the
    last one; None when there is nothing new to anchor."""
    file = path()
    last = _last(file)
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    if head == ((last.seq, last.hash) if last else None):
        return None  # nothing new since the last checkpoint, or nothing at all
    if last and (head is None or head[0] <= last.seq):
        raise CheckpointError(f"the table ends at seq {head[0] if head else 0}, not after the "
                              f"last checkpoint's seq {last.seq}: its newest rows were deleted")
    _check_since(last)
    checkpoint = Checkpoint(seq=head[0], hash=head[1],
                            count=AuditEvent.objects.filter(seq__lte=head[0]).count(),
                            at=chain.timestamp(timezone.now()))
    try:
        _append(file, checkpoint.line())
    except OSError as exc:
        raise CheckpointError(f"cannot write {file}: {exc.strerror}") from None
    return checkpoint


def _append(file: Path, line: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        # One write of one short line: appends from the beat and the command interleave whole.
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def _last(file: Path) -> Checkpoint | None:
    if not file.exists():
        return None
    with file.open("rb") as data:
        data.seek(max(0, file.stat().st_size - _TAIL_BYTES))
        lines = [line for line in data.read().splitlines() if line.strip()]
    if not lines:
        return None
    entry = parse(0, lines[-1].decode("utf-8", "replace"))
    if entry.checkpoint is None:
        raise CheckpointError(f"the last checkpoint in {file} is unusable: {entry.problem}")
    return entry.checkpoint


def _check_since(last: Checkpoint | None) -> None:
    """Refuse to anchor a chain that is broken since the last checkpoint (or, for the
    first checkpoint, anywhere): signing it would vouch for the damage."""
    start_seq, start_hash = (last.seq + 1, last.hash) if last else (1, chain.GENESIS)
    rows = (event.chain_fields() for event in
            AuditEvent.objects.filter(seq__gte=start_seq).order_by("seq").iterator(2000))
    breaks = chain.walk(rows, keep=set(), start_seq=start_seq, start_hash=start_hash).breaks
    if breaks:
        raise CheckpointError(f"the chain is broken at {breaks[0]}; run aima_audit verify")


def _key() -> bytes:
    if settings.AIMA_AUDIT_KEY:
        return settings.AIMA_AUDIT_KEY.encode()
    return salted_hmac("aima.audit.checkpoints", "key", algorithm="sha256").digest()
