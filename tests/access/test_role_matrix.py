"""Every endpoint and admin page, asked by every role.

The requests come from the URLconf (every pattern of ``aima_web.urls``, router
routes included, with every HTTP method its view answers) and from the admin
registry (the list, add, change, delete and history pages of every model). Each
must have an expected answer in the tables below: a new endpoint, method or
admin model without one fails ``test_every_*_has_an_expectation``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aima_web.access.roles import Role
from tests.access import world as w

VIEWER, ANALYST, OPERATOR, ADMIN = Role.VIEWER, Role.ANALYST, Role.OPERATOR, Role.ADMIN
PUBLIC = "public"  # anyone, signed in or not
STAFF = "staff"  # any signed-in staff user, with or without a role
AGENT = "agent"  # an agent's own credential; no user
ENROLLMENT = "enrollment"  # an enrollment token or an agent's credential; no user
NOBODY = "nobody"  # not even a superuser
SCRAPER = "scraper"  # the metrics token (AIMA_METRICS_TOKEN); no user
Needs = Role | str

# ---------------------------------------------------------------- the expectations

# Who may call each API (and other non-admin) endpoint, by route and method. HEAD
# needs what GET needs; OPTIONS whatever the most open method of the route needs.
FLOWER = "flower/<path>"
# Pages a browser opens: somebody not signed in is sent to the site's login (302).
LOGIN_PAGES = ("usage/", "flower/", "dashboard/", "upload/", "jobs/")
ENDPOINTS: dict[str, dict[str, Needs]] = {
    "": {m: PUBLIC for m in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    "api/schema/": {"GET": PUBLIC},
    "api/docs/": {"GET": PUBLIC},
    "api-auth/login/": {"GET": PUBLIC, "POST": PUBLIC, "PUT": PUBLIC},
    "api-auth/logout/": {"POST": PUBLIC},
    "login/": {"GET": PUBLIC, "POST": PUBLIC, "PUT": PUBLIC},
    "logout/": {"POST": PUBLIC},
    "api/v1/jobs/": {"GET": VIEWER, "POST": ANALYST},
    "api/v1/jobs/<pk>/": {"GET": VIEWER},
    "api/v1/jobs/<pk>/results/": {"GET": VIEWER},
    "api/v1/jobs/<pk>/report/": {"GET": VIEWER},
    "api/v1/jobs/<pk>/media/": {"GET": VIEWER},
    "api/v1/jobs/<pk>/cancel/": {"POST": ANALYST},
    "api/v1/gpus/": {"GET": VIEWER},
    "api/v1/gpus/<pk>/": {"GET": VIEWER, "PATCH": OPERATOR},
    "api/v1/gpus/<pk>/telemetry/": {"GET": OPERATOR},
    "api/v1/gpus/<pk>/drain/": {"POST": OPERATOR},
    "api/v1/gpus/<pk>/resume/": {"POST": OPERATOR},
    "api/v1/placement/explain/": {"POST": ANALYST},
    "api/v1/placement/policy/": {"GET": ANALYST},
    "api/v1/instances/": {"GET": OPERATOR},
    "api/v1/instances/<pk>/": {"GET": OPERATOR},
    "api/v1/providers/": {"GET": OPERATOR},
    "api/v1/offers/": {"GET": OPERATOR},
    "api/v1/prices/": {"GET": OPERATOR},
    "api/v1/alerts/": {"GET": OPERATOR},
    "api/v1/uploads/": {"POST": ANALYST},
    "api/v1/uploads/<pk>/": {"GET": ANALYST, "PATCH": ANALYST, "DELETE": ANALYST},
    "metrics": {"GET": SCRAPER},
    # Operators' pages: a token or a signed-in session; nobody signed in goes to the login.
    "usage/": {"GET": OPERATOR},
    "usage/<period>.csv": {"GET": OPERATOR},
    "usage/<period>/": {"GET": OPERATOR},
    FLOWER: {"GET": OPERATOR},
    "dashboard/": {"GET": OPERATOR},
    # Analysts' pages: each sees and submits their own jobs, as in the API.
    "upload/": {"GET": ANALYST},
    "jobs/": {"GET": VIEWER},
    "jobs/<job_id>/": {"GET": VIEWER},
    "api/v1/agents/register/": {"POST": ENROLLMENT},
    "api/v1/agents/heartbeat/": {"POST": AGENT},
    "api/v1/agents/preempted/": {"POST": AGENT},
    "api/v1/agent-jobs/<job_id>/start/": {"POST": AGENT},
    "api/v1/agent-jobs/<job_id>/media/": {"GET": AGENT},
    "api/v1/agent-jobs/<job_id>/results/": {"POST": AGENT},
    "api/v1/agent-models/<sha256>/": {"GET": AGENT},
}

# Who may do what on each model's admin pages, by model label. Models of other
# apps keep Django's model permissions, which the admin role holds.
DJANGO_MODEL = {"view": ADMIN, "add": ADMIN, "change": ADMIN, "delete": ADMIN}
ADMIN_MODELS: dict[str, dict[str, Needs]] = {
    "auth.Group": DJANGO_MODEL,
    "auth.User": DJANGO_MODEL,
    "otp_totp.TOTPDevice": DJANGO_MODEL,
    "otp_static.StaticDevice": DJANGO_MODEL,
    "axes.AccessAttempt": {**DJANGO_MODEL, "add": NOBODY},
    "axes.AccessLog": {**DJANGO_MODEL, "add": NOBODY},
    "axes.AccessFailureLog": {**DJANGO_MODEL, "add": NOBODY},
    "accounts.ApiToken": {**DJANGO_MODEL, "delete": NOBODY},
    "privacy.RetentionPolicy": DJANGO_MODEL,
    "privacy.LegalHold": DJANGO_MODEL,
    "audit.AuditEvent": {"view": ADMIN, "add": NOBODY, "change": NOBODY, "delete": NOBODY},
    "alerts.Alert": {"view": OPERATOR, "add": NOBODY, "change": NOBODY, "delete": NOBODY},
    "fleet.LocalGPU": {"view": OPERATOR, "add": ADMIN, "change": ADMIN, "delete": ADMIN},
    "fleet.Agent": {"view": OPERATOR, "add": NOBODY, "change": ADMIN, "delete": ADMIN},
    "fleet.EnrollmentToken": {"view": ADMIN, "add": ADMIN, "change": ADMIN, "delete": ADMIN},
    "jobs.Job": {"view": OPERATOR, "add": NOBODY, "change": NOBODY, "delete": ADMIN},
    "jobs.MediaAsset": {"view": OPERATOR, "add": NOBODY, "change": NOBODY, "delete": ADMIN},
    "placement.PlacementPolicy": {"view": ANALYST, "add": NOBODY, "change": ADMIN,
                                  "delete": NOBODY},
    "placement.CloudOffer": {"view": OPERATOR, "add": NOBODY, "change": NOBODY,
                             "delete": ADMIN},
    "instances.CloudInstance": {"view": OPERATOR, "add": NOBODY, "change": ADMIN,
                                "delete": ADMIN},
    "registry.ModelArtifact": {"view": OPERATOR, "add": NOBODY, "change": ADMIN,
                               "delete": ADMIN},
}
MODEL_PAGES = ("changelist", "add", "change", "delete", "history")

# The admin's other pages, by route: who may open them (GET), or why the matrix
# does not ask (the reason is the value).
ADMIN_SITE: dict[str, Needs | tuple[str]] = {
    "admin/": STAFF,
    "admin/login/": PUBLIC,
    "admin/password_change/": STAFF,
    "admin/password_change/done/": STAFF,
    "admin/jsi18n/": STAFF,
    "admin/<app_label>/": ("each app's index: test_admin_app_index",),
    "admin/logout/": ("POST only, for whoever is signed in",),
    "admin/autocomplete/": ("answers for a model field, as that model's view permission says",),
    "admin/r/<content_type_id>/<object_id>/": ("no AIMA model has a page outside the admin",),
    "admin/mfa/enrol/": ("a staff user's own second factor: tests of aima_web/accounts",),
    "admin/<url>": ("the catch-all: not found, or the login",),
    "admin/auth/user/<id>/password/": ADMIN,
    # A device's secret is never shown again (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin/otp_totp/totpdevice/<pk>/config/": NOBODY,
    "admin/otp_totp/totpdevice/<pk>/qrcode/": NOBODY,
}

# ---------------------------------------------------------------- the URLconf


def leaves(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from leaves(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def readable(route: str) -> str:
    """``^jobs/(?P<pk>[^/.]+)/$`` and ``<uuid:job_id>`` as ``jobs/<pk>/``, ``<job_id>``."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    route = re.sub(r"<\w+:(\w+)>", r"<\1>", route)
    return route.replace("^", "").replace("$", "")


def methods(pattern: URLPattern) -> list[str]:
    """The HTTP methods the pattern's view answers."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)  # a viewset's router route
    if actions is not None:
        answered = set(actions) | {"options"}
    else:
        view = callback.view_class
        names = callback.view_initkwargs.get("http_method_names", view.http_method_names)
        answered = {m for m in names if hasattr(view, m)}
    if "get" in answered:
        answered.add("head")
    return sorted(m.upper() for m in answered)


def model_prefixes() -> dict[str, str]:
    return {f"admin/{m._meta.app_label}/{m._meta.model_name}/": m._meta.label
            for m in admin.site._registry}


def is_model_page(route: str, prefixes: dict[str, str]) -> bool:
    """One of the pages every model admin has, or its old change-page redirect."""
    for prefix in prefixes:
        rest = route.removeprefix(prefix)
        if rest != route and rest in ("", "add/", "<object_id>/", "<object_id>/change/",
                                      "<object_id>/delete/", "<object_id>/history/"):
            return True
    return False


ALL_LEAVES = [(readable(route), pattern) for route, pattern in leaves(get_resolver().url_patterns)]
PREFIXES = model_prefixes()
CALLS = [(route, method) for route, pattern in ALL_LEAVES if not route.startswith("admin/")
         for method in methods(pattern)]
SITE_PAGES = [route for route, _ in ALL_LEAVES
              if route.startswith("admin/") and not is_model_page(route, PREFIXES)]


def expected_for(route: str, method: str) -> Needs:
    table = ENDPOINTS[route]
    if method == "HEAD":
        return table["GET"]
    if method == "OPTIONS":
        return min(table.values(), key=openness)
    return table[method]


def openness(needs: Needs) -> int:
    if needs == PUBLIC:
        return 0
    return needs.value if isinstance(needs, Role) else 99


def allowed(principal: str, needs: Needs) -> bool:
    if needs == PUBLIC:
        return True
    if principal == w.ANONYMOUS or needs in (AGENT, ENROLLMENT, SCRAPER, NOBODY):
        return False
    if needs == STAFF or principal == w.SUPERUSER:
        return True  # every principal signed in is staff
    return principal != w.NO_ROLE and Role[principal.upper()] >= needs


# ---------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[w.World]:
    """Made once for the module; each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield w.build()
        transaction.set_rollback(True)


# ---------------------------------------------------------------- completeness


def test_every_endpoint_and_method_has_an_expectation():
    missing = [f"{method} /{route}" for route, method in CALLS
               if method not in ("HEAD", "OPTIONS") and method not in ENDPOINTS.get(route, {})]
    assert not missing, f"say who may call these in ENDPOINTS: {missing}"
    stale = [f"{method} /{route}" for route, table in ENDPOINTS.items() for method in table
             if (route, method) not in CALLS]
    assert not stale, f"no longer in the URLconf: {stale}"


def test_every_admin_model_and_page_has_an_expectation():
    registered = set(PREFIXES.values())
    assert registered - set(ADMIN_MODELS) == set(), "say who may do what in ADMIN_MODELS"
    assert set(ADMIN_MODELS) - registered == set(), "no longer in the admin"
    assert [r for r in SITE_PAGES if r not in ADMIN_SITE] == [], "add them to ADMIN_SITE"
    assert [r for r in ADMIN_SITE if r not in SITE_PAGES] == [], "no longer in the admin"


# ---------------------------------------------------------------- the API


def url_for(route: str, principal: str, world: w.World) -> str:
    if route == FLOWER:
        return "/flower/api/workers"
    values = {"job_id": str(world.job_of(principal).id), "sha256": world.artifact.sha256,
              "period": "2026-03"}
    if route.startswith("api/v1/jobs/"):
        values["pk"] = str(world.job_of(principal).id)
    elif route.startswith("api/v1/gpus/"):
        values["pk"] = str(world.gpu.id)
    elif route.startswith("api/v1/instances/"):
        values["pk"] = str(world.instance.id)
    elif route.startswith("api/v1/uploads/"):
        values["pk"] = str(world.upload_of(principal).id)
    return "/" + re.sub(r"<(\w+)>", lambda m: values[m.group(1)], route)


def call(client: Any, method: str, url: str) -> HttpResponse:
    if method in ("HEAD", "OPTIONS", "GET", "DELETE"):
        return getattr(client, method.lower())(url)
    # Empty forms: an allowed caller gets an answer about the content (400), not 401/403.
    body_format = "multipart" if url == "/api/v1/jobs/" else "json"
    return getattr(client, method.lower())(url, {}, format=body_format)


@pytest.fixture(scope="module")
def flower() -> Iterator[str]:
    """A stand-in for Flower on the loopback: every page a 200 with an empty object."""

    class Flower(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flower)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def operators_view(settings, flower) -> None:
    settings.AIMA_FLOWER_URL = flower
    settings.AIMA_METRICS_TOKEN = "matrix-metrics-token"


@pytest.mark.django_db
@pytest.mark.parametrize("principal", w.PRINCIPALS)
@pytest.mark.parametrize(("route", "method"), CALLS, ids=[f"{m} /{r}" for r, m in CALLS])
def test_endpoint(world, principal, route, method):
    needs = expected_for(route, method)
    response = call(world.api[principal], method, url_for(route, principal, world))
    status = response.status_code
    assert status < 500, response.content[:500]
    if allowed(principal, needs):
        assert status not in (401, 403, 404, 405), (status, response.content[:300])
    elif needs in (AGENT, ENROLLMENT, SCRAPER):
        # A user's credentials are not even read where only agents (or Prometheus) are served.
        assert status in (401, 403), status
    elif principal == w.ANONYMOUS and route.startswith(LOGIN_PAGES):
        assert status == 302 and response["Location"].startswith("/login/"), status
    elif principal == w.ANONYMOUS:
        assert status == 401, status
    else:
        assert status == 403, (status, response.content[:300])


# ---------------------------------------------------------------- the admin


def admin_cases() -> list[tuple[str, str]]:
    return [(label, page) for label in sorted(set(PREFIXES.values())) for page in MODEL_PAGES]


def assert_admin_answer(response: HttpResponse, principal: str, may: bool) -> None:
    if principal == w.ANONYMOUS:
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    elif may:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert "/admin/login/" not in response["Location"]
    else:
        assert response.status_code == 403, response.status_code


@pytest.mark.django_db
@pytest.mark.parametrize("principal", w.PRINCIPALS)
@pytest.mark.parametrize(("label", "page"), admin_cases())
def test_admin_page(world, principal, label, page):
    model = next(m for m in admin.site._registry if m._meta.label == label)
    needs = ADMIN_MODELS[label]
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"tests/access/world.py makes no {label} (ROW_MAKERS)"
    url = reverse(name, args=[] if page in ("changelist", "add") else [row.pk])
    client = world.admin[principal]
    may_view = allowed(principal, needs["view"]) or allowed(principal, needs["change"])
    may = {"add": allowed(principal, needs["add"]),
           "delete": allowed(principal, needs["delete"])}.get(page, may_view)
    response = client.get(url)
    assert_admin_answer(response, principal, may)
    if page == "change" and may and response.status_code == 200:
        # The page is a form only for those who may change; a view for the others.
        assert response.context["has_change_permission"] == allowed(principal, needs["change"])
    if page == "change" and principal != w.ANONYMOUS and not allowed(principal, needs["change"]):
        assert client.post(url, {}).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("principal", w.PRINCIPALS)
@pytest.mark.parametrize("app_label", sorted({m._meta.app_label for m in admin.site._registry}))
def test_admin_app_index(world, principal, app_label):
    labels = [label for label in ADMIN_MODELS if label.split(".")[0] == app_label]
    may = any(allowed(principal, ADMIN_MODELS[label]["view"])
              or allowed(principal, ADMIN_MODELS[label]["change"]) for label in labels)
    response = world.admin[principal].get(f"/admin/{app_label}/")
    if principal == w.ANONYMOUS:
        assert response.status_code == 302
    else:
        assert response.status_code == (200 if may else 404)


def site_url(route: str, world: w.World) -> str:
    values = {"id": world.users[w.SUPERUSER].pk,
              "pk": admin_row_pk("otp_totp.TOTPDevice")}
    return "/" + re.sub(r"<(\w+)>", lambda m: str(values[m.group(1)]), route)


def admin_row_pk(label: str) -> Any:
    model = next((m for m in admin.site._registry if m._meta.label == label), None)
    row = model._default_manager.order_by("pk").first() if model else None
    return row.pk if row else 0


SITE_CHECKS = [route for route in ADMIN_SITE if not isinstance(ADMIN_SITE[route], tuple)]


@pytest.mark.django_db
@pytest.mark.parametrize("principal", w.PRINCIPALS)
@pytest.mark.parametrize("route", SITE_CHECKS)
def test_admin_site_page(world, principal, route):
    response = world.admin[principal].get(site_url(route, world))
    needs = ADMIN_SITE[route]
    if needs == PUBLIC:  # the login page sends those signed in on to the index
        assert response.status_code in (200, 302)
    else:
        assert_admin_answer(response, principal, allowed(principal, needs))
