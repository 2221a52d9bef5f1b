"""The site's own login and logout, for the pages analysts use (upload, their
jobs) as well as staff: the admin's checks (password, lockout, the second factor
of an enrolled device) without the admin's staff-only rule."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from aima_web.accounts.forms import MfaLoginForm


class SiteLogin(auth_views.LoginView):
    form_class = MfaLoginForm
    template_name = "accounts/login.html"
    # Not redirect_authenticated_user: a password-only session of a user with a device
    # counts as signed out on the pages, which would send it back here, in a loop.


class SiteLogout(auth_views.LogoutView):
    """POST only (Django's LogoutView): a link or an image cannot log anybody out."""
