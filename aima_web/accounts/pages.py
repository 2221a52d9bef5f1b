"""Who may open one of AIMA's pages outside the API and the admin (upload, jobs,
dashboard, usage reports, Flower).

Callers are known the way the API knows them: an API token, or a session that
passed every factor its user has. Somebody not signed in is sent to the site's
login (settings.LOGIN_URL) and comes back; a bad token is a 401; a user without
the capability a 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from aima_web.access.roles import Capability, holds
from aima_web.accounts.authentication import (
    ApiTokenAuthentication,
    VerifiedSessionAuthentication,
)

TEXT = "text/plain; charset=utf-8"


def refusal(request: HttpRequest, needed: Capability, what: str) -> HttpResponse | None:
    """Why the caller may not open the page, as the answer; None: they may."""
    known = Request(request, authenticators=[ApiTokenAuthentication(),
                                             VerifiedSessionAuthentication()])
    try:
        user = known.user
    except AuthenticationFailed as exc:
        response = HttpResponse(f"{exc.detail}\n", status=401, content_type=TEXT)
        response["WWW-Authenticate"] = "Token"
        return response
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not holds(user, needed):
        return HttpResponseForbidden(
            f"{what} need the {needed.value} capability.\n",
            content_type=TEXT)
    return None


class Admitted:
    """A page view's first base: the caller is admitted (``refusal``) before any other
    work; afterwards ``request.user`` is the caller, by session or by token. Pages
    are read: GET and HEAD only."""

    http_method_names = ["get", "head"]
    needed: Capability
    what: str  # the page, as the 403 names it: "<what> need the <capability> capability"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return (refusal(request, self.needed, self.what)
                or super().dispatch(request, *args, **kwargs))  # type: ignore[misc]
