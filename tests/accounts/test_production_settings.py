"""Debug off unless asked for, an embedded secret key kept private, the
documented production settings clean for ``check --deploy``, a CSP on pages,
and no secret in an error report."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.views.debug import SafeExceptionReporterFilter

from aima_tasks.broker import PROJECT_ROOT
from aima_web.accounts.error_reports import SecretMaskingFilter
from tests.test_api_report import IMAGE_PROBE, make_job

# What the tests' own environment may hold that would change what is checked.
CLEARED = ("AIMA_DEBUG", "AIMA_SECRET_KEY", "AIMA_HTTPS", "DATABASE_URL", "AIMA_ALLOWED_HOSTS",
           "AIMA_BROKER_URL", "AIMA_REQUIRE_MFA")


def run(tmp_path: Path, code_or_args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run([sys.executable, *code_or_args], cwd=PROJECT_ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**clean, "AIMA_VAR_DIR": str(tmp_path), **env})


def settings_value(tmp_path: Path, expression: str, **env: str) -> subprocess.CompletedProcess:
    code = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'aima_web.settings'); django.setup(); from django.conf import settings; "
            f"print({expression})")
    return run(tmp_path, ["-c", code], **env)


def test_debug_is_off_unless_asked_for(tmp_path):
    assert settings_value(tmp_path, "settings.DEBUG").stdout.split()[-1] == "False"
    assert settings_value(tmp_path, "settings.DEBUG", AIMA_DEBUG="1").stdout.split()[-1] == "True"


def test_the_embedded_default_keeps_a_private_secret_key(tmp_path):
    first = settings_value(tmp_path, "settings.SECRET_KEY").stdout.split()[-1]
    second = settings_value(tmp_path, "settings.SECRET_KEY").stdout.split()[-1]
    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text() and len(first) == 50
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_an_empty_database_url_is_the_embedded_default_and_needs_no_secret_key(tmp_path):
    done = settings_value(tmp_path, "settings.SECRET_KEY", DATABASE_URL="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == (tmp_path / "secret_key").read_text()


def test_a_real_database_needs_a_secret_key(tmp_path):
    done = settings_value(tmp_path, "settings.SECRET_KEY",
                          DATABASE_URL="postgres://aima@db.example.org/aima")
    assert done.returncode != 0
    assert "AIMA_SECRET_KEY must be set when DATABASE_URL" in done.stderr
    assert not (tmp_path / "secret_key").exists()


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    done = run(tmp_path, ["manage.py", "check", "--deploy"], AIMA_DEBUG="0", AIMA_HTTPS="1",
               AIMA_SECRET_KEY=secrets.token_urlsafe(50)[:50],
               AIMA_ALLOWED_HOSTS="aima.example.org")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout, done.stdout
    assert "WARNING" not in done.stdout + done.stderr


def test_https_turns_on_hsts_secure_cookies_and_the_redirect(tmp_path):
    values = ("[settings.SECURE_SSL_REDIRECT, settings.SECURE_PROXY_SSL_HEADER, "
              "settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
              "settings.SECURE_HSTS_PRELOAD, settings.SESSION_COOKIE_SECURE, "
              "settings.CSRF_COOKIE_SECURE]")
    on = settings_value(tmp_path, values, AIMA_HTTPS="1").stdout.strip().splitlines()[-1]
    assert on == ("[True, ('HTTP_X_FORWARDED_PROTO', 'https'), 31536000, True, True, True, "
                  "True]")
    off = settings_value(tmp_path, values).stdout.strip().splitlines()[-1]
    assert off == "[False, None, 0, False, False, False, False]"


@pytest.mark.django_db
def test_html_pages_carry_a_csp_and_still_render(client, django_user_model):
    login_page = client.get("/admin/login/")
    assert login_page.status_code == 200 and "Content-Security-Policy" in login_page
    root = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(root)
    pages = ["/admin/", "/admin/fleet/localgpu/", "/admin/accounts/apitoken/",
             "/admin/auth/user/add/", "/api/docs/"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, page
        assert response["X-Frame-Options"] == "DENY"
        # script-src 'self' runs no inline script: every one must come from a URL.
        scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
        assert scripts and all("src=" in tag for tag in scripts), (page, scripts)
    # Swagger UI from our own static files, its start-up script from a URL.
    assert "/static/drf_spectacular_sidecar/" in client.get("/api/docs/").content.decode()
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_error_reports_mask_broker_and_database_passwords(settings, rf):
    settings.AIMA_AGENT_BROKER_URL = "amqps://cloud:hunter2@mq.example.org:5671//"
    settings.AIMA_VASTAI_API_KEY = "vast-key-123"
    request = rf.get("/", HTTP_X_PROBE="1")
    request.META.update({"AIMA_BROKER_URL": "amqp://aima:hunter2@mq//",
                         "DATABASE_URL": "postgres://aima:hunter2@db/aima",
                         "AIMA_RUNPOD_API_KEY": "runpod-key-456"})
    masking = SecretMaskingFilter()
    shown = f"{masking.get_safe_settings()} {masking.get_safe_request_meta(request)}"
    assert "hunter2" not in shown and "vast-key-123" not in shown and "runpod-key" not in shown
    # Django's own filter would have shown the broker URLs.
    assert "hunter2" in str(SafeExceptionReporterFilter().get_safe_request_meta(request))
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == \
        "aima_web.accounts.error_reports.SecretMaskingFilter"


@pytest.mark.django_db
def test_the_report_page_carries_the_csp_and_needs_no_script(api, alice):
    job = make_job(alice, IMAGE_PROBE, name="photo.jpg")
    response = api.get(f"/api/v1/jobs/{job.id}/report/?format=html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    # Its timeline bars are drawn with style attributes, which the policy allows.
    assert "'unsafe-inline'" in response["Content-Security-Policy"].split("style-src")[1]
    assert "<script" not in response.content.decode().lower()
