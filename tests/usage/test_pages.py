"""The usage report's pages: the printable month, its CSV, who may see them."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from aima_web.access.roles import Role
from aima_web.jobs.models import Job
from tests.conftest import client_for
from tests.usage.seed import A100, H100, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model) -> Client:
    client = Client()
    client.force_login(user(django_user_model, "olga", Role.OPERATOR))
    return client


def test_the_printable_month(world, operator):
    page = operator.get("/usage/2026-03/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Usage report 2026-03" in html
    assert "@media print" in html and "<script" not in html
    # GPU A's row: 40 GPU-hours, 5.4 % of 744 hours, 12.80, 0.32 per GPU-hour.
    assert "NVIDIA GeForce RTX 4090 @ lab" in html
    for figure in ("40.00", "5.4 %", "12.80", "0.32", "36.86", "24.00"):
        assert figure in html
    assert "1 of 3 instances failed" in html
    assert 'href="/usage/2026-02/"' in html and 'href="/usage/2026-03.csv"' in html
    # The CSP's header is on the page: no inline script could run.
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_the_current_month(world, operator):
    page = operator.get("/usage/")
    assert page.status_code == 200
    assert "Usage report" in page.content.decode()


def test_the_csv_parses_and_matches(world, operator):
    answer = operator.get("/usage/2026-03.csv")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="aima-usage-2026-03.csv"' in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    by = {(row["section"], row["name"]): row for row in rows}
    gpu_a = by[("gpu", f"#{world.gpu_a.id} NVIDIA GeForce RTX 4090 @ lab")]
    assert (gpu_a["jobs"], gpu_a["gpu_hours"], gpu_a["cost"], gpu_a["savings"]) == (
        "2", "40.0000", "12.8000", "0.2000")
    # 40 / 744 = 5.376 %.
    assert gpu_a["utilisation_pct"] == "5.38"
    assert gpu_a["cost_per_gpu_hour"] == "0.3200" and gpu_a["cost_per_job"] == "6.4000"
    vastai = by[("provider", "vastai")]
    assert (vastai["jobs"], vastai["gpu_hours"], vastai["cost"]) == ("2", "6.0000", "24.0000")
    assert vastai["utilisation_pct"] == ""
    assert by[("user", "bob")]["cost"] == "8.0600"
    assert by[("analysis", "transcript")]["savings"] == "-1.1500"
    assert by[("total", "cloud")]["cost"] == "24.0000"
    assert by[("total", "total")]["cost"] == "36.8600"
    assert {row["currency"] for row in rows if row["section"] != "suggestion"} == {"USD"}
    assert [row["name"] for row in rows if row["section"] == "suggestion"] == [
        f"#{world.gpu_b.id} NVIDIA GeForce RTX 3060 @ lab", A100, H100, "vastai"]


def test_a_formula_in_a_name_stays_text(django_user_model, operator, world):
    Job.objects.filter(pk=world.jobs["J4"].pk).update(
        owner=user(django_user_model, "@SUM", Role.ANALYST))
    rows = list(csv.reader(io.StringIO(operator.get("/usage/2026-03.csv").content.decode())))
    first_user = rows[[r[:1] for r in rows].index(["user"])]
    assert first_user[:2] == ["user", "'@SUM"]


def test_bad_months_are_named(operator):
    for path, named in (("/usage/2026-13/", "2026-13"), ("/usage/march/", "march"),
                        ("/usage/2026-3.csv", "2026-3")):
        answer = operator.get(path)
        assert answer.status_code == 400, path
        assert named in answer.content.decode()


def test_analysts_are_refused_and_strangers_sent_to_log_in(django_user_model):
    analyst = Client()
    analyst.force_login(user(django_user_model, "ann", Role.ANALYST))
    for path in ("/usage/", "/usage/2026-03/", "/usage/2026-03.csv"):
        assert analyst.get(path).status_code == 403
        answer = Client().get(path)
        assert answer.status_code == 302
        assert answer["Location"] == f"/login/?next={path}"


def test_a_script_fetches_the_csv_with_an_api_token(world, django_user_model):
    operator = client_for(user(django_user_model, "otto", Role.OPERATOR))
    answer = operator.get("/usage/2026-03.csv")
    assert answer.status_code == 200
    assert "vastai" in answer.content.decode()
    analyst = client_for(user(django_user_model, "anna", Role.ANALYST))
    assert analyst.get("/usage/2026-03.csv").status_code == 403
    stranger = Client(HTTP_AUTHORIZATION="Token not-a-token")
    answer = stranger.get("/usage/2026-03.csv")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Token"


def test_a_session_short_of_its_second_factor_is_sent_to_log_in(django_user_model):
    olga = user(django_user_model, "olga2", Role.OPERATOR)
    TOTPDevice.objects.create(user=olga, name="phone", confirmed=True)
    client = Client()
    client.force_login(olga)  # a password alone: the device's code was never given
    answer = client.get("/usage/2026-03/")
    assert answer.status_code == 302
    assert answer["Location"] == "/login/?next=/usage/2026-03/"
