"""AIMA's admin site: Django's, plus the second factor.

Staff who enrolled a TOTP device must give its code at login; a session that
skipped it (a password login elsewhere) does not open the admin. With
``AIMA_REQUIRE_MFA`` on, staff without a device are sent to enrol first.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path

from aima_web.accounts import mfa
from aima_web.accounts.forms import MfaAdminLoginForm


class AimaAdminSite(admin.AdminSite):
    login_form = MfaAdminLoginForm
    login_template = "accounts/admin_login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return (super().has_permission(request) and mfa.satisfied(request.user)
                and not mfa.needs_enrolment(request.user))

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        user = request.user
        if user.is_active and user.is_staff and mfa.needs_enrolment(user):
            return redirect("admin:mfa_enrol")
        return super().login(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        from aima_web.accounts.views import enrol

        # Not wrapped in admin_view: it has to open before enrolment is done.
        return [path("mfa/enrol/", enrol, {"site": self}, name="mfa_enrol"), *super().get_urls()]
