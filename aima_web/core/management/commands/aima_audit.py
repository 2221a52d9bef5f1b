"""The audit trail from the command line.

    manage.py aima_audit verify [--export FILE [--format jsonl|csv]] [--checkpoints FILE]
    manage.py aima_audit export [--since ISO] [--format jsonl|csv] [--out FILE]
    manage.py aima_audit checkpoint
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import dateparse, timezone

from aima_web.audit import checkpoints, export, verify
from aima_web.core import content


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and checkpoints, export it, or checkpoint it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{verify,export,checkpoint}")
        check = actions.add_parser(
            "verify", help="walk the chain and compare it with the checkpoints; exit 1 naming "
                           "the first broken row")
        check.add_argument("--export", type=Path, metavar="FILE", dest="export_file",
                           help="verify this export instead of the database")
        check.add_argument("--checkpoints", type=Path, metavar="FILE", dest="checkpoint_file",
                           help="the checkpoint file (default: AIMA_AUDIT_CHECKPOINTS)")
        check.add_argument("--format", choices=export.FORMATS, dest="fmt",
                           help="of --export (default: from its name, else jsonl)")
        out = actions.add_parser("export", help="the trail with its hashes, oldest first")
        out.add_argument("--since", type=moment, metavar="ISO",
                         help="only events from this date or time on, e.g. 2026-01-31T12:00Z")
        out.add_argument("--format", choices=export.FORMATS, default="jsonl", dest="fmt")
        out.add_argument("--out", type=Path, metavar="FILE",
                         help="a new file (0600), refused if it exists; default: standard output")
        actions.add_parser("checkpoint", help="append a signed checkpoint of the chain's head")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        {"verify": self.verify, "export": self.export, "checkpoint": self.checkpoint}[action](
            **options)

    def verify(self, export_file: Path | None, checkpoint_file: Path | None, fmt: str | None,
               **options: Any) -> None:
        if fmt and not export_file:
            raise CommandError("--format is the format of --export FILE; give --export too")
        try:
            entries = checkpoints.read(checkpoint_file or checkpoints.path())
        except checkpoints.CheckpointError as exc:
            raise CommandError(str(exc)) from None
        if export_file:
            report = verify.rows_against(read_export(export_file, fmt), entries, complete=False)
        else:
            report = verify.database(entries)
        if not report.intact:
            for problem in report.problems[1:]:
                self.stderr.write(problem)
            more = f" (and {len(report.problems) - 1} more above)" if report.problems[1:] else ""
            raise CommandError(f"audit trail broken: {report.problems[0]}{more}")
        self.stdout.write(report.summary())

    def export(self, since: dt.datetime | None, fmt: str, out: Path | None,
               **options: Any) -> None:
        rows = export.rows(since)
        if out is None:
            export.write(rows, self.stdout, fmt)
            return
        try:
            # Private (0600) and new, like any export of personal data: the trail names
            # users and what they did, and an existing file is never overwritten.
            with io.TextIOWrapper(content.private_file(out), encoding="utf-8",
                                  newline="") as file:
                count = export.write(rows, file, fmt)
        except FileExistsError:
            raise CommandError(f"--out {out} exists: name a new file") from None
        except OSError as exc:
            raise CommandError(f"--out {out}: {exc.strerror}") from None
        self.stderr.write(f"{count} events written to {out}")

    def checkpoint(self, **options: Any) -> None:
        try:
            written = checkpoints.write()
        except checkpoints.CheckpointError as exc:
            raise CommandError(str(exc)) from None
        if written is None:
            self.stdout.write("nothing new to checkpoint")
        else:
            self.stdout.write(f"checkpoint seq {written.seq} hash {written.hash[:16]}… "
                              f"({written.count} events) in {checkpoints.path()}")


def moment(text: str) -> dt.datetime:
    """An ISO date or date-time; without a zone, in the control plane's time zone."""
    parsed = dateparse.parse_datetime(text)
    if parsed is None:
        day = dateparse.parse_date(text) if len(text) == 10 else None
        if day is None:
            raise ArgumentTypeError(f"{text!r} is not an ISO date or date-time")
        parsed = dt.datetime.combine(day, dt.time())
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def read_export(file: Path, fmt: str | None) -> Iterator[dict[str, Any]]:
    """The export's rows; read lazily, so a problem surfaces as verify reaches it."""
    fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    if not file.is_file():
        raise CommandError(f"--export {file}: no such file")
    try:
        with file.open(encoding="utf-8", newline="") as source:
            yield from export.read(source, fmt)
    except export.ExportError as exc:
        raise CommandError(f"--export {file}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CommandError(f"--export {file}: not UTF-8 text ({exc.reason} at byte "
                           f"{exc.start})") from None
    except csv.Error as exc:
        raise CommandError(f"--export {file}: not CSV ({exc})") from None
    except OSError as exc:
        raise CommandError(f"--export {file}: {exc.strerror or exc}") from None

