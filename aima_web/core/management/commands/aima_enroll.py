from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aima_web.fleet.services import create_enrollment_token


class Command(BaseCommand):
    help = ("Create an enrollment token for agents (`python -m agents run --token …`) "
            "and print it; only its hash is stored.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--label", default="agents", help="what the token is for")
        parser.add_argument("--expires-hours", type=float, default=None,
                            help="hours until the token stops working (default: never)")

    def handle(self, *args, label: str, expires_hours: float | None, **options) -> None:
        if expires_hours is not None and expires_hours <= 0:
            raise CommandError("--expires-hours must be a positive number of hours")
        expires_at = None if expires_hours is None else (
            timezone.now() + timedelta(hours=expires_hours))
        _, secret = create_enrollment_token(label, expires_at)
        self.stdout.write(secret)
