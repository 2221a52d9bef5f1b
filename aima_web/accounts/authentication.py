"""How people authenticate to the API: a hashed API token, or the admin's session."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_otp import user_has_device
from rest_framework import authentication, exceptions

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken

# How stale a token's last_used_at may be: refreshed at most once a minute.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <secret>``, the header DRF's own tokens used, so
    that clients need no change."""

    def authenticate_credentials(self, key: str):
        token = tokens.find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("unknown, expired or revoked API token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("the token's user is inactive")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """A session counts only when it passed every factor its user has: a staff
    member with a TOTP device who logged in elsewhere with a password alone
    (the browsable API's login) gets no API access from that session."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if not user.is_verified() and user_has_device(user):
            return None
        return result
