"""How people's authentication appears in the OpenAPI schema: DRF's own
session scheme (the token scheme already covers ApiTokenAuthentication)."""

from drf_spectacular.authentication import SessionScheme


class VerifiedSessionScheme(SessionScheme):
    target_class = "aima_web.accounts.authentication.VerifiedSessionAuthentication"
