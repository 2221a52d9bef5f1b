"""Twenty wrong passwords lock an account, the right one included, for
AIMA_LOCKOUT_MINUTES; the lockout is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from aima_web.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/?next=/admin/"
API_LOGIN = "/api-auth/login/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="pw-sam-long", is_staff=True)


def attempt(client, url: str, password: str, address: str = "10.0.0.1"):
    return client.post(url, {"username": "sam", "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", [ADMIN_LOGIN, API_LOGIN])
def test_twenty_wrong_passwords_lock_the_account_for_a_while(client, staff, url):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 20
    # From many addresses: the lock follows the username, not the address.
    for n in range(limit - 1):
        assert attempt(client, url, "wrong", f"10.0.0.{n}").status_code == 200
    locked = attempt(client, url, "wrong", "10.0.1.1")
    assert locked.status_code == 429
    assert b"Account locked" in locked.content and b"30 minutes" in locked.content
    refused = attempt(client, url, "pw-sam-long", "10.0.2.2")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="account.locked", subject="user:sam").count() == 1

    # The cool-off runs from the last attempt: move every attempt 31 minutes back.
    for row in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=row.pk).update(
            attempt_time=row.attempt_time - timedelta(minutes=31))
    assert attempt(client, url, "pw-sam-long").status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_wrong_second_factor_codes_count_towards_the_lockout(client, staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(ADMIN_LOGIN, {"username": "sam", "password": "pw-sam-long",
                                             "otp_token": "000000"})
        assert response.status_code == 200
    last = client.post(ADMIN_LOGIN, {"username": "sam", "password": "pw-sam-long",
                                     "otp_token": "000000"})
    assert last.status_code == 429


def test_behind_the_https_proxy_the_lockout_counts_the_forwarded_address(client, staff, settings):
    # What AIMA_HTTPS=1 sets: one trusted proxy, whose address is every REMOTE_ADDR.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.1"

    def from_(forwarded_for: str, username: str, password: str):
        return client.post(ADMIN_LOGIN, {"username": username, "password": password},
                           REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)

    for _ in range(settings.AXES_FAILURE_LIMIT):
        from_("198.51.100.7", "mallory", "wrong")
    # Another client, another username, through the same proxy: not locked.
    assert from_("198.51.100.8", "sam", "pw-sam-long").status_code == 302
    client.logout()
    # The same client is, whatever it puts before the entry the proxy appended.
    assert from_("198.51.100.7", "sam", "pw-sam-long").status_code == 429
    assert from_("192.0.2.1, 198.51.100.7", "sam", "pw-sam-long").status_code == 429
    assert "_auth_user_id" not in client.session
