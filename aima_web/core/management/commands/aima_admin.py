import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.audit import trail


class Command(BaseCommand):
    help = ("Create a superuser, or reset its password, and print "
            "'<password> <API token>' on one line.")
    TOKEN_NAME = "aima_admin"

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        if not username.strip():
            raise CommandError("the username must not be empty")
        password = secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True})
        user.set_password(password)
        user.save()
        trail.record(trail.SYSTEM, "user.created" if created else "user.password_reset",
                     f"user:{username}")
        # Only hashes are kept: a fresh token each time, the ones printed before revoked.
        for old in ApiToken.objects.filter(user=user, name=self.TOKEN_NAME, revoked_at=None):
            tokens.revoke(old, trail.SYSTEM)
        secret = tokens.issue(ApiToken(user=user, name=self.TOKEN_NAME), trail.SYSTEM)
        self.stdout.write(f"{password} {secret}")
