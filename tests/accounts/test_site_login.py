"""The site's own login (/login/): analysts, who are not staff and cannot use the
admin's, log in with their password (and the code of an enrolled device) and land
on the upload page; a wrong code is refused and counted like a wrong password."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from aima_web.audit.models import AuditEvent
from tests.accounts.test_mfa import code, next_code

pytestmark = pytest.mark.django_db

PASSWORD = "pw-ana-long-enough"


@pytest.fixture
def analyst(make_user):
    user = make_user("ana")
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, **extra: str):
    return client.post("/login/", {"username": "ana", "password": PASSWORD, **extra})


def test_an_analyst_logs_in_and_lands_on_the_upload_page(client, analyst):
    answer = log_in(client)
    assert answer.status_code == 302 and answer["Location"] == "/upload/"
    assert client.session["_auth_user_id"] == str(analyst.pk)
    # Not staff: the admin stays shut to the same session.
    assert client.get("/admin/").status_code == 302


def test_a_wrong_password_shows_the_form_again_and_is_audited(client, analyst):
    answer = client.post("/login/", {"username": "ana", "password": "wrong-guess-123"})
    assert answer.status_code == 200
    assert b"Please enter a correct username and password" in answer.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action__contains="login").exists()


def test_an_enrolled_device_needs_its_code(client, analyst):
    device = TOTPDevice.objects.create(user=analyst, name="phone", confirmed=True)
    refused = log_in(client)
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert b"current code of your authenticator app" in refused.content
    answer = log_in(client, otp_token=code(device))
    assert answer.status_code == 302
    # The session passed both factors: the API takes it (VerifiedSessionAuthentication).
    assert client.get("/api/v1/jobs/").status_code == 200
    client.post("/logout/")
    wrong = log_in(client, otp_token=f"{(int(next_code(device)) + 1) % 10**6:06d}")
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    assert b"wrong or was already used" in wrong.content


def test_next_is_followed_only_to_this_site(client, analyst):
    inside = client.post("/login/?next=/jobs/", {"username": "ana", "password": PASSWORD,
                                                 "next": "/jobs/"})
    assert inside["Location"] == "/jobs/"
    client.post("/logout/")
    outside = client.post("/login/", {"username": "ana", "password": PASSWORD,
                                      "next": "https://evil.example/"})
    assert outside["Location"] == "/upload/"


def test_logout_needs_a_post(client, analyst):
    log_in(client)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_session_that_skipped_the_code_gets_the_form_not_a_loop(client, analyst):
    TOTPDevice.objects.create(user=analyst, name="phone", confirmed=True)
    # The browsable API's login takes a password alone: the pages do not count it.
    client.post("/api-auth/login/", {"username": "ana", "password": PASSWORD})
    assert client.get("/jobs/")["Location"] == "/login/?next=/jobs/"
    assert client.get("/login/?next=/jobs/").status_code == 200
