from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django_otp import user_has_device

from aima_web.accounts import mfa


class MfaLoginForm(AuthenticationForm):
    """The site's login (upload page, jobs, dashboard): password, then the code of
    an enrolled device (none asked of users who have not enrolled one)."""

    otp_token = forms.CharField(
        required=False, label="Authentication code", max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
        help_text="from your authenticator app, or one of your recovery codes")

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not user_has_device(user):
            return cleaned
        code = cleaned.get("otp_token") or ""
        device = mfa.verify(user, code) if code else None
        if device is None:
            # Counted like a wrong password: audited, and towards the lockout.
            user_login_failed.send(sender=type(self), request=self.request,
                                   credentials={"username": user.get_username()})
            raise forms.ValidationError(
                "Enter the current code of your authenticator app (or a recovery code)."
                if not code else "That authentication code is wrong or was already used.",
                code="otp_invalid")
        # django_otp keeps the device in the session when the login completes.
        user.otp_device = device
        return cleaned


class MfaAdminLoginForm(MfaLoginForm, AdminAuthenticationForm):
    """The admin login: the site's, open to staff only (Django's admin form checks that)."""


class ConfirmDeviceForm(forms.Form):
    code = forms.CharField(label="Code from the app", max_length=8,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "inputmode": "numeric"}))
