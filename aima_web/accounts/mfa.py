"""The second factor for staff: TOTP devices (django-otp), with one-time recovery codes."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10


def needs_enrolment(user: AbstractBaseUser) -> bool:
    """Staff with no confirmed device, where the deployment requires one."""
    return settings.AIMA_REQUIRE_MFA and not user_has_device(user)


def satisfied(user: AbstractBaseUser) -> bool:
    """The user passed every factor they have (a password alone when they have no device)."""
    return user.is_verified() or not user_has_device(user)


def verify(user: AbstractBaseUser, code: str) -> TOTPDevice | StaticDevice | None:
    """The confirmed device that accepts ``code``: an authenticator's digits, or a
    recovery code (used up by this). Each device throttles its own failures."""
    code = code.strip().replace(" ", "")
    # Authenticators show six digits; recovery codes are eight letters and digits.
    model = TOTPDevice if len(code) == 6 and code.isdigit() else StaticDevice
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if device.verify_token(code):
                return device
    return None


def pending_device(user: AbstractBaseUser) -> TOTPDevice:
    """The user's unconfirmed authenticator (a new secret the first time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    return segno.make(device.config_url, error="m").svg_inline(scale=4)


def confirm(device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device with its first code; returns fresh recovery codes, or
    None if the code is wrong."""
    if not device.verify_token(code.strip().replace(" ", "")):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        StaticDevice.objects.filter(user=device.user).delete()
        recovery = StaticDevice.objects.create(user=device.user, name="recovery codes")
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
    return codes
