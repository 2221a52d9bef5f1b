"""Staff with a TOTP device give its code at the admin login; AIMA_REQUIRE_MFA
makes staff without one enrol before any admin page."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from aima_web.accounts import mfa
from aima_web.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def code(device: TOTPDevice, step: int | None = None) -> str:
    """The code the authenticator app shows now, or at time step ``step``."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits,
                device.drift if step is None else 0)
    totp.time = time.time() if step is None else device.t0 + step * device.step
    return f"{totp.token():0{device.digits}d}"


def next_code(device: TOTPDevice) -> str:
    """A code accepted after the last one used (each is good once): the next step's,
    which the device allows for clock drift even when the app does not show it yet."""
    device.refresh_from_db()
    return code(device, device.last_t + 1)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="pw-sam-long", is_staff=True,
                                                 is_superuser=True)


@pytest.fixture
def device(staff) -> TOTPDevice:
    return TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)


def log_in(client, token: str | None = None):
    form = {"username": "sam", "password": "pw-sam-long"}
    if token is not None:
        form["otp_token"] = token
    return client.post(LOGIN, form)


def test_without_a_device_the_password_is_enough(client, staff):
    assert log_in(client).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("token", [None, "", "123456", "abcdefgh"])
def test_an_enrolled_staff_member_needs_the_code(client, device, token):
    response = log_in(client, token)
    assert response.status_code == 200  # the form again
    assert b"authentication code" in response.content.lower()
    assert client.get("/admin/").status_code == 302
    # Counted as a failed login (and so towards the lockout).
    assert AuditEvent.objects.filter(action="auth.login_failed", subject="user:sam").count() == 1


def test_the_right_code_logs_in_once(client, device):
    right = code(device)
    assert log_in(client, right).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.logout()
    assert log_in(client, right).status_code == 200  # replayed: refused


def test_a_recovery_code_works_once(client, staff, device):
    assert log_in(client, "").status_code == 200
    pending = mfa.pending_device(staff)
    recovery = mfa.confirm(pending, code(pending))
    assert recovery is not None and len(recovery) == mfa.RECOVERY_CODES
    assert log_in(client, recovery[0]).status_code == 302
    client.logout()
    assert log_in(client, recovery[0]).status_code == 200


def test_a_password_only_session_opens_neither_admin_nor_api(client, device):
    # The browsable API's login asks for no code...
    assert client.post("/api-auth/login/", {"username": "sam", "password": "pw-sam-long"}
                       ).status_code == 302
    # ...so its session counts for nothing where the second factor is due.
    assert client.get("/admin/").status_code == 302
    assert client.get("/api/v1/jobs/").status_code in (401, 403)


def test_required_mfa_sends_staff_to_enrol_first(client, staff, settings):
    settings.AIMA_REQUIRE_MFA = True
    assert log_in(client).status_code == 302
    page = client.get("/admin/", follow=True)
    assert page.redirect_chain[-1][0] == "/admin/mfa/enrol/"
    assert client.get("/admin/fleet/localgpu/", follow=True).redirect_chain[-1][0] == \
        "/admin/mfa/enrol/"
    body = page.content.decode()
    uri = re.search(r"otpauth://totp/[^<\s]+", body).group(0)
    assert "issuer=AIMA" in uri and "<svg" in body
    pending = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert b"does not match" in client.post("/admin/mfa/enrol/", {"code": "000000"}).content
    # A wrong code holds the device back a moment (django-otp's throttle): let it pass.
    TOTPDevice.objects.filter(pk=pending.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(minutes=1))
    done = client.post("/admin/mfa/enrol/", {"code": code(pending)})
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.content.decode())) == 10
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="mfa.enrolled", subject="user:sam").exists()
    # The next login asks for the code.
    client.logout()
    assert log_in(client).status_code == 200
    assert log_in(client, next_code(pending)).status_code == 302


def test_the_enrol_page_is_for_logged_in_staff_only(client, django_user_model):
    assert client.get("/admin/mfa/enrol/").status_code == 302
    django_user_model.objects.create_user("ann", password="pw-ann-long")
    client.force_login(django_user_model.objects.get(username="ann"))
    assert client.get("/admin/mfa/enrol/").status_code == 302
    assert not TOTPDevice.objects.exists()


def test_the_admin_never_shows_device_keys_or_recovery_codes(client, staff, device):
    pending = mfa.pending_device(staff)
    recovery = mfa.confirm(pending, code(pending))
    assert log_in(client, recovery[0]).status_code == 302
    totp = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert totp.status_code == 200 and device.key not in totp.content.decode()
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    static = StaticDevice.objects.get(user=staff)
    page = client.get(f"/admin/otp_static/staticdevice/{static.pk}/change/").content.decode()
    assert not any(c in page for c in recovery[1:])


def test_the_enrol_page_with_the_key_and_recovery_codes_is_never_cached(client, staff):
    assert log_in(client).status_code == 302
    page = client.get("/admin/mfa/enrol/")
    assert page.status_code == 200 and "otpauth://" in page.content.decode()
    pending = TOTPDevice.objects.get(user=staff, confirmed=False)
    done = client.post("/admin/mfa/enrol/", {"code": code(pending)})
    assert len(re.findall(r"<li><code>", done.content.decode())) == 10
    for response in (page, done):
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"no-store", "no-cache", "must-revalidate", "private"} <= directives
        assert "max-age=0" in directives and response.has_header("Expires")
