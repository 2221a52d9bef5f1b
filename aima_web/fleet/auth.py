"""How agents authenticate: ``Authorization: Agent <credential>``, and
``Authorization: Bearer <enrollment token>`` once, to register."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from rest_framework import authentication, exceptions, permissions

from aima_web.audit import trail
from aima_web.fleet.credentials import digest
from aima_web.fleet.models import Agent, EnrollmentToken


def _presented(request, keyword: str) -> str | None:
    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() != keyword.lower().encode():
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(f"the {keyword} header takes exactly one value")
    return header[1].decode(errors="replace")


class SecretAuthentication(authentication.BaseAuthentication):
    """``Authorization: <keyword> <secret>``: the holder of the secret authenticates,
    by :meth:`holder`; a request with another scheme is left to the next class."""

    keyword = ""

    def authenticate(self, request):
        secret = _presented(request, self.keyword)
        return None if secret is None else (AnonymousUser(), self.holder(request, secret))

    def holder(self, request, secret: str) -> object:
        """What the secret belongs to; raise AuthenticationFailed when nothing usable."""
        raise NotImplementedError

    def authenticate_header(self, request) -> str:
        return self.keyword


class AgentAuthentication(SecretAuthentication):
    keyword = "Agent"

    def holder(self, request, secret: str) -> Agent:
        agent = Agent.objects.filter(credential_hash=digest(secret)).first()
        if agent is None:
            record_refusal(request, "agent.auth_refused", "agent:unknown")
            raise exceptions.AuthenticationFailed("unknown agent credential; register again")
        return agent


class EnrollmentAuthentication(SecretAuthentication):
    keyword = "Bearer"

    def holder(self, request, secret: str) -> EnrollmentToken:
        token = EnrollmentToken.objects.filter(token_hash=digest(secret)).first()
        if token is None or not token.usable():
            subject = f"enrollment:{token.pk}" if token else "enrollment:unknown"
            record_refusal(request, "enrollment.refused", subject,
                           **(token_state(token) if token else {}))
            raise exceptions.AuthenticationFailed(
                "enrollment token unknown, used up, expired or revoked; create one with "
                "`python manage.py aima_enroll`")
        return token


# A refused credential is audited once per address and subject in this window:
# authentication runs before the throttles, and a flood must not become one audit
# row (each under the chain's lock) per request.
REFUSAL_AUDIT_WINDOW_S = 60


def record_refusal(request, action: str, subject: str, **detail: object) -> None:
    client = trail.client(request)
    if cache.add(f"aima:refused:{action}:{subject}:{client.get('ip', '')}", True,
                 REFUSAL_AUDIT_WINDOW_S):
        trail.record("anonymous", action, subject, **client, **detail)


def token_state(token: EnrollmentToken) -> dict[str, object]:
    """Why a known token no longer works, for the audit trail."""
    return {"revoked": token.revoked, "uses": token.uses, "max_uses": token.max_uses,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None}


class IsAgent(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Agent)


class IsAgentOrEnrolling(permissions.BasePermission):
    """Registration: a new agent with an enrollment token, or an enrolled one
    starting again with its own credential."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Agent | EnrollmentToken)
