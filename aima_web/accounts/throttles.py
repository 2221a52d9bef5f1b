"""API rate limits, one scope each for anonymous callers, users and agents.

Rates are read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on every
request rather than once at import, so that one place (settings) owns them.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class RatesFromSettings:
    scope: str

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class AnonThrottle(RatesFromSettings, AnonRateThrottle):
    """Callers with no credential at all, per address."""

    def get_cache_key(self, request, view) -> str | None:
        if request.auth is not None:
            return None  # an agent: AgentThrottle counts it
        return super().get_cache_key(request, view)


class UserThrottle(RatesFromSettings, UserRateThrottle):
    """Signed-in users (an API token or a session), per user."""

    def get_cache_key(self, request, view) -> str | None:
        # DRF's would count everyone else per address at the users' rate.
        if not request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


class AgentThrottle(RatesFromSettings, SimpleRateThrottle):
    """Agents (an agent credential or an enrollment token, no user), per
    credential: many agents may share one address."""

    scope = "agent"

    def get_cache_key(self, request, view) -> str | None:
        if request.user.is_authenticated or request.auth is None:
            return None
        ident = f"{type(request.auth).__name__}:{request.auth.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
