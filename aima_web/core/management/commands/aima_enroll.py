from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aima_tasks.kernel.routing import Scope
from aima_web.fleet.services import create_enrollment_token


def positive(kind: type, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise CommandError(f"{what} must be a positive number, not {text!r}") from None
        if value <= 0:
            raise CommandError(f"{what} must be a positive number, not {text!r}")
        return value

    return parse


class Command(BaseCommand):
    help = ("Create an enrollment token for agents and print it (give it to the agent as "
            "AIMA_AGENT_TOKEN or --token-file); only its hash is stored. By default it "
            "enrols one local agent within AIMA_ENROLLMENT_TTL_S.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--label", default="agents", help="what the token is for")
        parser.add_argument("--scope", choices=[s.value for s in Scope], default=Scope.LOCAL,
                            help="what its agents are: local (on-premises, may take "
                                 "confidential work; default) or cloud")
        parser.add_argument("--uses", type=positive(int, "--uses"), default=1,
                            help="how many agents may enrol with it (default 1)")
        parser.add_argument("--expires-hours", type=positive(float, "--expires-hours"),
                            default=None,
                            help="hours until it stops working (default "
                                 f"{settings.AIMA_ENROLLMENT_TTL_S / 3600:g}, "
                                 "AIMA_ENROLLMENT_TTL_S)")

    def handle(self, *args, label: str, scope: str, uses: int, expires_hours: float | None,
               **options) -> None:
        expires_at = (None if expires_hours is None
                      else timezone.now() + timedelta(hours=expires_hours))
        _, secret = create_enrollment_token(label, expires_at, scope=Scope(scope),
                                            max_uses=uses, actor="command:aima_enroll")
        self.stdout.write(secret)
