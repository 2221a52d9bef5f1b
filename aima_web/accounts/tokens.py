"""Issuing, finding and revoking API tokens (``Authorization: Token <secret>``)."""

from __future__ import annotations

from django.utils import timezone

from aima_web.accounts.models import PREFIX_LENGTH, ApiToken
from aima_web.audit import trail
from aima_web.fleet.credentials import digest, new_secret


def issue(token: ApiToken, actor: str) -> str:
    """Give an unsaved token (user, name, expiry) its secret and save it. The
    secret is returned: the only time it exists outside its holder."""
    secret = new_secret()
    token.prefix, token.key_hash = secret[:PREFIX_LENGTH], digest(secret)
    token.save()
    trail.record(actor, "token.created", f"token:{token.pk}", user=token.user.get_username(),
                 name=token.name, prefix=token.prefix,
                 expires_at=token.expires_at.isoformat() if token.expires_at else None)
    return secret


def find(secret: str) -> ApiToken | None:
    """The usable token with this secret, or None."""
    token = ApiToken.objects.filter(key_hash=digest(secret)).select_related("user").first()
    return token if token is not None and token.usable() else None


def revoke(token: ApiToken, actor: str) -> bool:
    """Revoke; False if it already was."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(
        revoked_at=timezone.now())
    if revoked:
        trail.record(actor, "token.revoked", f"token:{token.pk}",
                     user=token.user.get_username(), prefix=token.prefix)
    return bool(revoked)
