"""The monthly usage report and the cost overview over the seeded month
(tests/usage/seed.py), against figures worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aima_web.jobs.models import Job
from aima_web.usage.overview import cost_overview
from aima_web.usage.report import BadMonth, Row, monthly_report, parse_month
from tests.usage.seed import A100, H100, at

pytestmark = pytest.mark.django_db

# The report is read after the month: 2026-04-10 (March is over, so 744 hours).
AFTER = at("04-10", "12:00")
HOURS = 31 * 24  # 744


def figures(row: Row) -> tuple:
    return (row.name, row.jobs, round(row.gpu_hours, 6), round(row.cost, 6),
            round(row.savings, 6))


def test_gpu_rows(world):
    report = monthly_report(2026, 3, now=AFTER)
    assert report.hours == HOURS
    assert report.currency == "USD"
    a, b = report.gpus  # the retired A100 did no work: no row
    # GPU A at 0.32/h: J1 10 h (3.20) + J2 30 h (9.60) = 40 h, 12.80. Savings: J1's
    # cheapest cloud alternative 5.00 - 3.20 = 1.80; J2's 8.00 - 9.60 = -1.60; sum 0.20.
    assert figures(a) == (f"#{world.gpu_a.id} NVIDIA GeForce RTX 4090 @ lab", 2, 40.0, 12.8,
                          0.2)
    assert a.utilisation == pytest.approx(40 / 744)
    assert a.cost_per_gpu_hour == pytest.approx(0.32)
    assert a.cost_per_job == pytest.approx(6.4)
    # GPU B: J3's March hour (23:00-24:00) at 0.06/h; J3 finished in April, so no job here.
    assert figures(b) == (f"#{world.gpu_b.id} NVIDIA GeForce RTX 3060 @ lab", 0, 1.0, 0.06,
                          0.0)
    assert b.utilisation == pytest.approx(1 / 744)
    assert b.cost_per_job is None


def test_provider_and_user_rows(world):
    report = monthly_report(2026, 3, now=AFTER)
    # local: GPU A + GPU B. vastai: J4 4 h + J5 2 h; billed I1 6 h * 2 = 12, I2 3 h * 2 = 6,
    # I3 0.5 h * 4 = 2, I4's March hours 00:00-02:00 * 2 = 4: 24.00, i.e. 4.00 per GPU-hour.
    local, vastai = report.providers
    assert figures(local) == ("local", 2, 41.0, 12.86, 0.2)
    assert figures(vastai) == ("vastai", 2, 6.0, 24.0, 0.0)
    assert vastai.cost_per_gpu_hour == pytest.approx(4.0)
    assert vastai.cost_per_job == pytest.approx(12.0)
    # alice: J1 (10 h, 3.20), J2 (30 h, 9.60), J5 (2 h, charged 4.00); savings 1.80 - 1.60.
    # bob: J3's March hour (0.06) and J4 (4 h, charged 8.00); only J4 finished in March.
    alice, bob = report.users
    assert figures(alice) == ("alice", 3, 42.0, 16.8, 0.2)
    assert figures(bob) == ("bob", 1, 5.0, 8.06, 0.0)


def test_analysis_rows(world):
    report = monthly_report(2026, 3, now=AFTER)
    # J1 splits 1/4 transcript, 3/4 faces (its results ran 1 h and 3 h): transcript 2.5 h,
    # 0.80, savings 0.45; faces 7.5 h, 2.40, savings 1.35. J5 splits evenly (no results):
    # 1 h and 2.00 each.
    # faces: J1 7.5 h + J3 1 h + J5 1 h = 9.5 h; 2.40 + 0.06 + 2.00 = 4.46; jobs J1, J5.
    # transcript: J1 2.5 + J2 30 + J4 4 + J5 1 = 37.5 h; 0.80 + 9.60 + 8.00 + 2.00 = 20.40;
    # savings 0.45 - 1.60 = -1.15; jobs J1, J2, J4, J5.
    faces, transcript = report.analyses
    assert figures(faces) == ("faces", 2, 9.5, 4.46, 1.35)
    assert figures(transcript) == ("transcript", 4, 37.5, 20.4, -1.15)


def test_totals_and_suggestions(world):
    report = monthly_report(2026, 3, now=AFTER)
    # Energy: GPU A 40 h * 0.12 = 4.80, GPU B 1 h * 0.06 = 0.06. Depreciation: 40 h * 0.20.
    assert report.local_energy == pytest.approx(4.86)
    assert report.local_depreciation == pytest.approx(8.0)
    assert report.cloud == pytest.approx(24.0)
    assert report.savings == pytest.approx(0.2)
    assert report.total == pytest.approx(36.86)
    kinds = [(s.kind, s.subject) for s in report.suggestions]
    assert kinds == [("idle_gpu", f"#{world.gpu_b.id} NVIDIA GeForce RTX 3060 @ lab"),
                     ("buy_gpu", A100), ("buy_gpu", H100),
                     ("failing_provider", "vastai")]
    idle, a100, h100, failing = (s.text for s in report.suggestions)
    assert "0.1% of the month" in idle  # 1 / 744
    # A100: billed 12 + 6 + 4 = 22.00 with no local A100 job; the retired A100's price 1073.00
    # less its energy for the 6 rented hours (6 * 0.09 = 0.54): 1073 / 21.46 = 50.0 months,
    # beyond its 36-month write-off (26280 h / 730).
    assert "22.00 USD" in a100 and "pay back in 50.0 months" in a100
    assert f"as GPU #{world.gpu_c.id}, 1073.00 USD" in a100
    assert "beyond its 36-month write-off" in a100
    assert "no purchase price known" in h100
    # vastai: I1, I2, I3 requested in March (I4 in February), I3 failed.
    assert "1 of 3 instances failed (33%)" in failing


def test_cost_overview(world):
    now = at("04-01", "12:00")
    overview = cost_overview(days=32, now=now)
    assert overview.start == at("03-01")
    # March's figures plus J3's April hour (0.06 energy); J3 has no alternative: no savings.
    assert overview.local_energy == pytest.approx(4.92)
    assert overview.local_depreciation == pytest.approx(8.0)
    assert overview.cloud == pytest.approx(24.0)
    assert overview.savings == pytest.approx(0.2)
    assert overview.currency == "USD"
    assert len(overview.days) == 32
    days = {d.day.isoformat()[5:]: (round(d.local_cost, 6), round(d.cloud_cost, 6),
                                    round(d.gpu_hours_local, 6), round(d.gpu_hours_cloud, 6),
                                    d.jobs)
            for d in overview.days}
    # J2 runs 24 h on 03-10 (7.68) and 6 h on 03-11 (1.92), where it finishes.
    assert days["03-01"] == (0.0, 4.0, 0.0, 0.0, 0)
    assert days["03-02"] == (3.2, 0.0, 10.0, 0.0, 1)
    assert days["03-05"] == (0.0, 12.0, 0.0, 4.0, 1)
    assert days["03-10"] == (7.68, 0.0, 24.0, 0.0, 0)
    assert days["03-11"] == (1.92, 0.0, 6.0, 0.0, 1)
    assert days["03-20"] == (0.0, 6.0, 0.0, 2.0, 1)
    assert days["03-25"] == (0.0, 2.0, 0.0, 0.0, 0)
    assert days["03-31"] == (0.06, 0.0, 1.0, 0.0, 0)
    assert days["04-01"] == (0.06, 0.0, 1.0, 0.0, 1)
    quiet = set(days) - {"03-01", "03-02", "03-05", "03-10", "03-11", "03-20", "03-25",
                         "03-31", "04-01"}
    assert all(days[day] == (0.0, 0.0, 0.0, 0.0, 0) for day in quiet)
    assert sum(d.local_cost for d in overview.days) == pytest.approx(overview.local)


def test_a_running_job_counts_until_now(world):
    now = at("04-01", "12:00")
    j3 = world.jobs["J3"]
    Job.objects.filter(pk=j3.pk).update(state="running", finished_at=None,
                                        running_at=now - timedelta(hours=2))
    overview = cost_overview(days=1, now=now)
    # J3 has run 10:00-12:00 on GPU B at 0.06/h and has not finished: no job yet.
    today = overview.days[0]
    assert (round(today.local_cost, 6), today.gpu_hours_local, today.jobs) == (0.12, 2.0, 0)


def test_bad_months_are_named():
    assert parse_month("2026-03") == (2026, 3)
    for text in ("2026-13", "2026-3", "march", "2026-00", "\uff12\uff10\uff12\uff16-03"):
        with pytest.raises(BadMonth, match=text):
            parse_month(text)
    with pytest.raises(ValueError, match="days"):
        cost_overview(days=0)


def test_a_month_not_begun_and_one_just_begun(world):
    ahead = monthly_report(2026, 5, now=AFTER)
    assert ahead.hours == 0
    assert [(row.jobs, row.gpu_hours, row.utilisation) for row in ahead.gpus] == [
        (0, 0.0, None), (0, 0.0, None)]
    assert ahead.providers == ahead.users == ahead.analyses == []
    assert ahead.suggestions == []
    # Two hours into April: J3's last hour on GPU B, 50 % of them, and too soon to call
    # GPU A idle.
    begun = monthly_report(2026, 4, now=at("04-01", "02:00"))
    assert begun.hours == 2
    assert [round(row.utilisation, 6) for row in begun.gpus] == [0.0, 0.5]
    assert [s.kind for s in begun.suggestions] == []
