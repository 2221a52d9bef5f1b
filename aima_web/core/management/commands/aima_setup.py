"""``python manage.py aima_setup``: make a deployment ready to serve, idempotently.

Run before the web server and the workers start, and again after every upgrade
(the compose file's ``setup`` service does): it waits for the database, applies
the migrations, collects the static files for the proxy, makes the keyring that
seals media and results when there is none, and, on RabbitMQ with
``AIMA_BROKER_ADMIN_URL``, the local agents' broker user (its password from
``AIMA_LOCAL_AGENT_BROKER_PASSWORD``). Each step says what it did in one line.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from aima_web.instances import broker_accounts
from aima_web.privacy import keyring

POLL_S = 2


class Command(BaseCommand):
    help = ("Wait for the database, migrate, collect static files, make the keyring if "
            "there is none and the local agents' broker user; safe to run again.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wait", type=float, default=120,
                            help="seconds to wait for the database and the broker (default 120)")

    def handle(self, *args: Any, wait: float, **options: Any) -> None:
        deadline = time.monotonic() + wait
        self._until(deadline, "the database", self._database_answers)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database: migrated")
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"static files: collected in {settings.STATIC_ROOT}")
        self._keyring()
        self._broker_user(deadline)

    def _keyring(self) -> None:
        path = Path(settings.AIMA_KEYRING)
        if path.exists():
            keyring.load()  # a keyring that does not open stops the setup here
            self.stdout.write(f"keyring: kept the one at {path}")
        else:
            self.stdout.write(f"keyring: made {path} with key {keyring.create()} "
                              "(back it up apart from the data: deploy/README.md)")

    def _broker_user(self, deadline: float) -> None:
        password = os.environ.get("AIMA_LOCAL_AGENT_BROKER_PASSWORD", "")
        if not broker_accounts.uses_accounts() or not password:
            self.stdout.write("broker: no local agents' user to make "
                              "(embedded broker, or AIMA_LOCAL_AGENT_BROKER_PASSWORD unset)")
            return

        def made() -> bool:
            try:
                broker_accounts.ensure_local_agents_user(password)
            except broker_accounts.BrokerUnavailable:
                return False
            except broker_accounts.BrokerAccountError as exc:
                raise CommandError(str(exc)) from exc
            return True

        self._until(deadline, "RabbitMQ's management API", made)
        self.stdout.write(f"broker: user {broker_accounts.LOCAL_AGENT_USER} may read "
                          f"{broker_accounts.LOCAL_AGENT_READ} on vhost {broker_accounts.vhost()}")

    @staticmethod
    def _database_answers() -> bool:
        try:
            connection.ensure_connection()
        except DatabaseError:
            connection.close()
            return False
        return True

    @staticmethod
    def _until(deadline: float, what: str, ready: Any) -> None:
        while not ready():
            if time.monotonic() > deadline:
                raise CommandError(f"{what} did not answer in time: check that it runs and "
                                   "its settings (DATABASE_URL, AIMA_BROKER_ADMIN_URL)")
            time.sleep(POLL_S)
