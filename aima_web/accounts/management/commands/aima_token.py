"""``manage.py aima_token create USER | list [USER] | revoke PREFIX``: API tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.audit import trail


class Command(BaseCommand):
    help = ("API tokens: create one (its secret is printed once, only its hash is kept), "
            "list them by prefix, revoke one by prefix.")

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create", help="a new token for USER; prints the secret")
        create.add_argument("username")
        create.add_argument("--name", default="cli", help="what the token is for")
        create.add_argument("--expires-days", type=float, default=None,
                            help="valid this many days (default: until revoked)")
        listing = commands.add_parser("list", help="tokens (prefix, user, name, state)")
        listing.add_argument("username", nargs="?")
        revoke = commands.add_parser("revoke", help="revoke the token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, command: str, **options) -> None:
        getattr(self, f"handle_{command}")(**options)

    def handle_create(self, username: str, name: str, expires_days: float | None,
                      **options) -> None:
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be positive")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        expires_at = (timezone.now() + timedelta(days=expires_days)
                      if expires_days is not None else None)
        secret = tokens.issue(ApiToken(user=user, name=name, expires_at=expires_at),
                              trail.SYSTEM)
        self.stdout.write(secret)

    def handle_list(self, username: str | None, **options) -> None:
        listed = ApiToken.objects.select_related("user")
        if username:
            listed = listed.filter(user__username=username)
        for token in listed:
            state = ("revoked" if token.revoked_at else
                     "expired" if not token.usable() else "active")
            expires = token.expires_at.isoformat(timespec="seconds") if token.expires_at else "-"
            self.stdout.write(f"{token.prefix}  {token.user.get_username()}  {token.name}  "
                              f"{state}  expires {expires}")

    def handle_revoke(self, prefix: str, **options) -> None:
        matches = list(ApiToken.objects.filter(prefix=prefix).select_related("user"))
        if len(matches) != 1:
            raise CommandError(f"{len(matches)} tokens have the prefix {prefix!r}; "
                               f"`aima_token list` shows them")
        if not tokens.revoke(matches[0], trail.SYSTEM):
            raise CommandError(f"the token {prefix}… was already revoked")
        self.stdout.write(f"revoked {prefix}…")
