"""The keys that seal media and results at rest (``AIMA_KEYRING``).

    manage.py aima_keys init         make a keyring with one fresh key (refuses if one exists)
    manage.py aima_keys status       the keys, and what each seals
    manage.py aima_keys rotate       a fresh current key; every medium and result sealed again
    manage.py aima_keys retire-old   drop the old keys once nothing needs them
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aima_web.audit import trail
from aima_web.privacy import keyring, rotation


class Command(BaseCommand):
    help = "Create, inspect, rotate and retire the keys that seal media and results at rest."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{init,status,rotate,retire-old}")
        actions.add_parser("init", help="make a keyring with one fresh key at AIMA_KEYRING")
        actions.add_parser("status", help="the keys, and how many files and results each seals")
        actions.add_parser("rotate", help="add a fresh current key and seal everything again "
                                          "with it; old keys stay until retire-old")
        actions.add_parser("retire-old", help="drop every key but the current one, once "
                                              "nothing is sealed with them")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, action.replace("-", "_"))()
        except (keyring.KeyringError, rotation.StillInUse) as exc:
            raise CommandError(str(exc)) from exc

    def init(self) -> None:
        self.stdout.write(f"made a keyring with key {keyring.create()}")

    def status(self) -> None:
        ring = keyring.load()
        used = rotation.usage()
        for key_id in sorted(set(ring.keys) | set(used.media) | set(used.results)):
            mark = "current" if key_id == ring.current else (
                "old" if key_id in ring.keys else "MISSING")
            self.stdout.write(f"{key_id}  {mark:8} media files: {used.media[key_id]:6}  "
                              f"result rows: {used.results[key_id]:6}")

    def rotate(self) -> None:
        key_id, media, rows = rotation.rotate(trail.SYSTEM)
        self.stdout.write(f"key {key_id} is current; sealed again {media} media files and "
                          f"{rows} result rows. Old keys stay until aima_keys retire-old.")

    def retire_old(self) -> None:
        retired = rotation.retire_old(trail.SYSTEM)
        self.stdout.write(f"retired {len(retired)} keys: {', '.join(retired) or 'none'}")
