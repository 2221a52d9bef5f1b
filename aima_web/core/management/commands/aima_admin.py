import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from aima_web.audit import trail


class Command(BaseCommand):
    help = ("Create a superuser, or reset its password, and print "
            "'<password> <API token>' on one line.")

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
        token, _ = Token.objects.get_or_create(user=user)
        trail.record(trail.SYSTEM, "user.created" if created else "user.password_reset",
                     f"user:{username}")
        self.stdout.write(f"{password} {token.key}")
