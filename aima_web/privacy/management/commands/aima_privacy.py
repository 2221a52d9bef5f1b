"""One user's data, and retention, from the command line.

    manage.py aima_privacy export --user NAME --out FILE   their account, jobs, results and
                                                           the audit events about them (JSON)
    manage.py aima_privacy erase --user NAME               delete their jobs, results, and
                                                           media no other job needs
    manage.py aima_privacy sweep                           apply retention now (the beat does
                                                           it every AIMA_RETENTION_S)
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aima_web.audit import trail
from aima_web.core import content
from aima_web.privacy import personal_data, retention


class Command(BaseCommand):
    help = "Export or erase one user's data; apply retention."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{export,erase,sweep}")
        export = actions.add_parser("export", help="write one user's data to a JSON file")
        export.add_argument("--user", required=True, metavar="NAME")
        export.add_argument("--out", required=True, type=Path, metavar="FILE",
                            help="a new file (0600); refused if it exists")
        erase = actions.add_parser("erase", help="delete one user's jobs, results and media")
        erase.add_argument("--user", required=True, metavar="NAME")
        actions.add_parser("sweep", help="delete what is past its retention now")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, action)(**options)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['user']!r}") from None
        except personal_data.ErasureRefused as exc:
            raise CommandError(str(exc)) from exc

    def export(self, user: str, out: Path, **_: Any) -> None:
        try:
            handle = content.private_file(out)
        except FileExistsError:
            raise CommandError(f"{out} exists: name a new file") from None
        with handle:
            try:
                document = personal_data.export(user, trail.SYSTEM)
            except BaseException:
                out.unlink(missing_ok=True)
                raise
            handle.write(json.dumps(document, indent=2).encode())
        self.stdout.write(f"wrote {len(document['jobs'])} jobs of {user} to {out}")

    def erase(self, user: str, **_: Any) -> None:
        erased = personal_data.erase(user, trail.SYSTEM)
        self.stdout.write(f"erased {erased} jobs of {user} with their results and media")

    def sweep(self, **_: Any) -> None:
        swept = retention.sweep(timezone.now())
        self.stdout.write(f"deleted {swept.media} media files and the results of "
                          f"{swept.results} jobs")
