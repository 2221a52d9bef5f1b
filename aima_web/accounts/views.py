"""Enrolling a TOTP device: scan the QR code (or type the key), confirm with a first code."""

from __future__ import annotations

import django_otp
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django_otp import user_has_device

from aima_web.accounts import mfa
from aima_web.accounts.forms import ConfirmDeviceForm
from aima_web.audit import trail


# The page shows the device's key and the recovery codes: no cache may keep a copy.
@never_cache
def enrol(request: HttpRequest, site: admin.AdminSite) -> HttpResponse:
    user = request.user
    if not (user.is_active and user.is_staff and mfa.satisfied(user)):
        # Not logged in, not staff, or enrolled but this session skipped the code.
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    context = {**site.each_context(request), "title": "Two-factor authentication"}
    if user_has_device(user):
        return TemplateResponse(request, "accounts/mfa_enrolled.html", context)
    device = mfa.pending_device(user)
    form = ConfirmDeviceForm(request.POST or None)
    if form.is_valid():
        codes = mfa.confirm(device, form.cleaned_data["code"])
        if codes is not None:
            # This session has now passed the second factor too.
            django_otp.login(request, device)
            trail.record(trail.user_actor(user), "mfa.enrolled", f"user:{user.get_username()}",
                         device=device.persistent_id)
            return TemplateResponse(request, "accounts/mfa_enrolled.html",
                                    {**context, "recovery_codes": codes})
        form.add_error("code", "That code does not match: wait for the app's next code "
                               "and try again (and check its clock).")
    return TemplateResponse(request, "accounts/mfa_enrol.html", {
        **context, "form": form, "otpauth_uri": device.config_url,
        "qr_svg": mfa.qr_svg(device), "required": mfa.needs_enrolment(user)})
