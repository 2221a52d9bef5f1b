"""API tokens are stored as hashes, shown once, expire and can be revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/jobs/"


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw-root")


def test_only_a_hash_is_stored_and_the_secret_authenticates(root):
    secret = tokens.issue(ApiToken(user=root, name="ci"), "test")
    assert len(secret) == 64
    stored = ApiToken.objects.values().get()
    assert not any(secret in str(value) for value in stored.values())
    assert stored["prefix"] == secret[:8] and stored["key_hash"] != secret
    response = with_token(secret).get(URL)
    assert response.status_code == 200, response.content
    assert ApiToken.objects.get().last_used_at is not None
    assert AuditEvent.objects.filter(action="token.created", subject=f"token:{stored['id']}",
                                     detail__prefix=secret[:8]).exists()


def test_last_used_is_written_at_most_once_a_minute(root):
    secret = tokens.issue(ApiToken(user=root, name="ci"), "test")
    client = with_token(secret)
    assert client.get(URL).status_code == 200
    first = ApiToken.objects.get().last_used_at
    assert client.get(URL).status_code == 200
    assert ApiToken.objects.get().last_used_at == first
    # A minute on, the next request marks it used again.
    ApiToken.objects.update(last_used_at=first - timedelta(seconds=61))
    assert client.get(URL).status_code == 200
    assert ApiToken.objects.get().last_used_at > first


@pytest.mark.parametrize("state", ["revoked", "expired", "wrong secret"])
def test_refused_tokens(root, state):
    token = ApiToken(user=root, name="ci", expires_at=timezone.now() + timedelta(hours=1))
    secret = tokens.issue(token, "test")
    if state == "revoked":
        assert tokens.revoke(token, "test")
    elif state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    else:
        secret = secret[:8] + "0" * 56  # the right prefix, the wrong rest
    response = with_token(secret).get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_the_command_creates_lists_and_revokes(root, capsys):
    call_command("aima_token", "create", "root", "--name", "laptop", "--expires-days", "7")
    secret = capsys.readouterr().out.strip()
    assert with_token(secret).get(URL).status_code == 200
    call_command("aima_token", "list")
    listing = capsys.readouterr().out
    assert f"{secret[:8]}  root  laptop  active" in listing and secret not in listing
    call_command("aima_token", "revoke", secret[:8])
    assert with_token(secret).get(URL).status_code == 401
    assert AuditEvent.objects.filter(action="token.revoked", actor="system").exists()


def test_aima_admin_prints_a_working_token_and_revokes_the_one_before(capsys):
    call_command("aima_admin", "demo")
    first = capsys.readouterr().out.split()[1]
    call_command("aima_admin", "demo")
    second = capsys.readouterr().out.split()[1]
    assert with_token(second).get(URL).status_code == 200
    assert with_token(first).get(URL).status_code == 401


def test_the_admin_shows_the_secret_once_and_then_only_the_prefix(client, root):
    client.force_login(root)
    response = client.post("/admin/accounts/apitoken/add/",
                           {"user": root.pk, "name": "dashboard"}, follow=True)
    assert response.status_code == 200
    secret = next(str(m) for m in response.context["messages"]).rsplit(" ", 1)[-1]
    token = ApiToken.objects.get()
    assert with_token(secret).get(URL).status_code == 200
    for page in ("/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/"):
        body = client.get(page).content.decode()
        assert token.prefix in body
        assert secret not in body and token.key_hash not in body
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert with_token(secret).get(URL).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_drf_tokens_from_before_are_hashed_and_their_clear_table_dropped(django_user_model):
    user = django_user_model.objects.create_superuser("old", "old@example.org", "pw")
    legacy_key = "0123456789abcdef0123456789abcdef01234567"  # DRF's 40 hex characters
    MigrationExecutor(connection).migrate([("accounts", "0001_initial")])
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, '
                       '"user_id" integer NOT NULL)')
        cursor.execute('INSERT INTO authtoken_token ("key", "user_id") VALUES (%s, %s)',
                       [legacy_key, user.pk])
    MigrationExecutor(connection).migrate([("accounts", "0002_hash_legacy_drf_tokens")])
    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get()
    assert (token.user, token.prefix) == (user, legacy_key[:8])
    assert legacy_key not in str(ApiToken.objects.values().get())
    assert with_token(legacy_key).get(URL).status_code == 200
