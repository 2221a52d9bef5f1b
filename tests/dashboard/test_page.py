"""The operators' dashboard: who may open it, and what it shows of a seeded
fleet (tests/dashboard/conftest.py), figures worked out by hand."""

from __future__ import annotations

import re

import pytest
from django.db import OperationalError, connection
from django.test import Client

from aima_web.access.roles import Role
from aima_web.usage.overview import cost_overview
from tests.dashboard.html import Node, parse
from tests.usage.seed import user

pytestmark = pytest.mark.django_db


def page(client: Client) -> Node:
    answer = client.get("/dashboard/")
    assert answer.status_code == 200, answer.content[:300]
    return parse(answer.content.decode())


def test_somebody_not_signed_in_goes_to_the_login():
    answer = Client().get("/dashboard/")
    assert answer.status_code == 302
    assert answer["Location"] == "/login/?next=/dashboard/"


def test_an_analyst_may_not_see_it(django_user_model):
    client = Client()
    client.force_login(user(django_user_model, "ann", Role.ANALYST))
    answer = client.get("/dashboard/")
    assert answer.status_code == 403
    assert b"The dashboard need the view_cloud capability" in answer.content


def test_the_gpu_table(seeded, operator):
    tree = page(operator)
    gpus = tree.by_id("gpus")
    row = gpus.having("data-gpu-id", str(seeded.gpu_a.id), tag="tr")[0].text()
    # The latest heartbeat sample (73 %), not the one before (10 %).
    assert "NVIDIA GeForce RTX 4090" in row and "lab" in row and "available" in row
    assert "73 %" in row and "10 %" not in row
    assert "10.5 / 24 GB" in row and "61 °C" in row and "320 W" in row
    # The running job J7 is its current job, linked to its page.
    j7 = seeded.jobs["J7"]
    link = gpus.having("data-gpu-id", str(seeded.gpu_a.id), tag="tr")[0].having("href")[0]
    assert link.attrs["href"] == f"/jobs/{j7.pk}/" and link.text() == "J7.mp4"
    # GPU B reports nothing yet and works on J7's second segment.
    row_b = gpus.having("data-gpu-id", str(seeded.gpu_b.id), tag="tr")[0]
    assert "RTX 3060" in row_b.text() and "12 GB" in row_b.text()
    assert row_b.having("href")[0].attrs["href"] == f"/jobs/{j7.pk}/"
    # The live instance has its own row, with the job running on its agent.
    cloud = gpus.having("data-instance-id", str(seeded.live.pk), tag="tr")[0]
    assert "NVIDIA H100 80GB HBM3" in cloud.text() and "vastai" in cloud.text()
    assert "busy" in cloud.text() and "3.00/h" in cloud.text()
    assert cloud.having("href")[0].attrs["href"] == f"/jobs/{seeded.jobs['J6'].pk}/"
    # The ended instance I1 is not shown.
    assert len(gpus.having("data-instance-id", tag="tr")) == 1


def test_the_utilisation_bars(seeded, operator):
    bars = page(operator).by_id("utilisation")
    local, cloud = bars.by_id("utilisation-local"), bars.by_id("utilisation-cloud")
    assert "73 %" in local.text() and "1 of 2 GPUs reporting" in local.text()
    assert local.having("style")[0].attrs["style"] == "width: 73%"
    # The one live instance runs a job: 100 %.
    assert "100 %" in cloud.text() and "1 of 1 live instances running a job" in cloud.text()


def test_the_queues(seeded, operator):
    queues = page(operator).by_id("queues")
    row = queues.having("data-queue", "gpu.local.24", tag="tr")[0]
    cells = [c.text() for c in row.children if not isinstance(c, str)]
    # Q1 waits for GPU A with an hour of work (its estimate); J7 has used up its
    # hour, so nothing of it is left: the next job of class 24 waits one hour
    # (GPU B is too small for the class).
    assert cells[2] == "1" and cells[4] == "1 h 00 min"
    assert cells[3] == "10 min"
    # GPU B (12 GB) takes class 8 and has nothing ahead of it.
    row8 = queues.having("data-queue", "gpu.local.8", tag="tr")[0].text()
    assert row8.endswith("0 s")
    # GPU A (24 GB) cannot take class 48: no local GPU for it.
    row48 = queues.having("data-queue", "gpu.local.48", tag="tr")[0].text()
    assert "no local GPU" in row48
    # A cloud class is listed only while jobs wait in it.
    assert not queues.having("data-queue", "gpu.cloud.24")


def test_costs_and_savings(seeded, operator):
    tree = page(operator)
    # Local: J1 10 h, J2 5 h and J7's hour so far on GPU A at 0.12 + 0.20 per hour.
    assert tree.by_id("cost-energy").text() == "1.92 USD"  # 16 h * 0.12
    assert tree.by_id("cost-depreciation").text() == "3.20 USD"  # 16 h * 0.20
    # Cloud: I1 billed 6 h at 2.00, the live I5 2 h so far at 3.00.
    assert tree.by_id("cost-cloud").text() == "18.00 USD"
    assert tree.by_id("cost-total").text() == "23.12 USD"
    # Savings of the finished local jobs: J1 5.00 - 3.20, J2 4.00 - 1.60.
    assert tree.by_id("savings").text() == "4.20 USD"
    assert cost_overview(30).savings == pytest.approx(4.20)
    for chart in ("daily-costs", "daily-utilisation"):
        svg = tree.by_id(chart).having("viewbox", tag="svg")
        assert len(svg) == 1
        assert len(svg[0].having("class", "bar", tag="g")) == 30


def test_recent_jobs_with_their_cost(seeded, operator):
    recent = page(operator).by_id("recent-jobs")
    rows = recent.having("data-job-id", tag="tr")
    # Finished ones only, newest first: J2, J1, J4.
    order = [seeded.jobs[key].pk for key in ("J2", "J1", "J4")]
    assert [row.attrs["data-job-id"] for row in rows] == [str(pk) for pk in order]
    cost = {row.attrs["data-job-id"]: row.having("class", "num cost")[0].text() for row in rows}
    assert cost[str(seeded.jobs["J1"].pk)] == "3.20 USD"
    assert cost[str(seeded.jobs["J4"].pk)] == "8.00 USD"  # what the instance charged it
    assert "succeeded" in rows[0].text()


def test_alerts(seeded, operator):
    alerts = page(operator).by_id("alerts")
    row = alerts.having("data-alert-id", str(seeded.alert.pk))[0].text()
    assert "GPU overheating" in row and f"GPU #{seeded.gpu_a.id} at 95 C" in row
    assert "open" in row


def test_it_reloads_itself_and_has_no_inline_script(seeded, operator):
    answer = operator.get("/dashboard/")
    html = answer.content.decode()
    assert '<meta http-equiv="refresh" content="15">' in html
    assert "<script" not in html and "javascript:" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert "script-src 'self'" in answer["Content-Security-Policy"]


def test_names_are_escaped(seeded, operator):
    seeded.gpu_a.__class__.objects.filter(pk=seeded.gpu_a.pk).update(model="<b>evil</b>")
    html = operator.get("/dashboard/").content.decode()
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html


def test_an_empty_fleet(operator):
    tree = page(operator)
    assert "No GPU in service" in tree.by_id("gpus").text()
    assert tree.by_id("savings").text() == "0.00 USD"
    assert "No alerts" in tree.by_id("alerts").text()


def test_a_database_fault_is_503_not_500(seeded, operator):
    def refuse(execute, sql, params, many, context):
        if "fleet_localgpu" in sql:
            raise OperationalError("connection to server lost")
        return execute(sql, params, many, context)

    # As a server answers: the site's 500 handler, not the exception, reaches the client.
    operator.raise_request_exception = False
    with connection.execute_wrapper(refuse):
        answer = operator.get("/dashboard/")
    assert answer.status_code == 503
    assert int(answer["Retry-After"]) > 0
    assert b"the database is unavailable" in answer.content
