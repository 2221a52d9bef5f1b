"""The analysts' pages: who may open them, what the upload page offers, the list of
one's own jobs, one job's page, and the progress the report shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus, ResultItem
from aima_web.access.roles import Role
from aima_web.jobs import services
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SPANS = [[0.0, 60.0], [60.0, 120.0], [120.0, 180.0], [180.0, 240.0]]
SENTENCE = "Local GPU #1 (RTX 4090): ready now and cheapest, 0.12 USD."
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_job(owner, name: str = "clip.mp4", state: str = JobState.SUCCEEDED, **fields) -> Job:
    asset, _ = MediaAsset.objects.get_or_create(
        sha256="ab" * 32, defaults={"size_bytes": 10, "media_type": "video",
                                    "metadata": {"duration_s": 240.0}})
    finished = timezone.now() if state in {"succeeded", "failed", "cancelled"} else None
    return Job.objects.create(owner=owner, media=asset, media_name=name,
                              confidentiality="internal", state=state, finished_at=finished,
                              **fields)


def running_job(owner) -> Job:
    """A job in four segments, placed and running: vad per segment, loudness whole."""
    job = make_job(owner, "long.mp4", state=JobState.RECEIVED, analyses=["loudness", "vad"],
                   segments=SPANS, placement={"placed": True, "reason": SENTENCE,
                                              "choice": {"runtime_s": 480.0, "scope": "local"}})
    for state in (JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING):
        assert Job.objects.transition(job.id, state)
    return job


def finish_vad_segment(job: Job, index: int) -> None:
    start, end = SPANS[index]
    at = (T0 + timedelta(seconds=index)).isoformat()
    data = {"model": "silero", "threshold": 0.5, "segments": [], "duration_s": end - start}
    services.finish(AnalysisOutcome(
        job_id=str(job.id), status=OutcomeStatus.DONE, agent_id=None, segment=index,
        results=(ResultItem("vad", data, at, at, meta={
            "models": [], "device": "cpu", "segment": index, "start_s": start,
            "end_s": end}),)))


# ---------------------------------------------------------------- who may open them


def test_somebody_not_signed_in_is_sent_to_the_login(alice):
    job = make_job(alice)
    for url in ("/upload/", "/jobs/", f"/jobs/{job.id}/"):
        answer = Client().get(url)
        assert answer.status_code == 302
        assert answer["Location"] == f"/login/?next={url}"


def test_a_viewer_may_list_jobs_but_not_upload(make_user):
    viewer = browser(make_user("vera", role=Role.VIEWER))
    refused = viewer.get("/upload/")
    assert refused.status_code == 403
    assert "submit_jobs" in refused.content.decode()
    assert viewer.get("/jobs/").status_code == 200
    nobody = browser(make_user("noah", role=None))
    assert nobody.get("/jobs/").status_code == 403


def test_an_api_token_opens_the_pages_too(alice):
    assert client_for(alice).get("/jobs/").status_code == 200


# ---------------------------------------------------------------- the upload page


def test_the_upload_page_offers_the_options_and_states_the_limit(alice, settings):
    settings.AIMA_MAX_UPLOAD_BYTES = 7 * 1024 * 1024
    page = browser(alice).get("/upload/")
    assert page.status_code == 200
    html = page.content.decode()
    for value in ("public", "internal", "confidential"):
        assert f'<option value="{value}"' in html
    # Nothing is sent to a cloud unless the user lowers the level.
    assert '<option value="confidential" selected>' in html
    assert '<option value="normal" selected>' in html
    for name, spec in catalogue().specs.items():
        assert f'<input type="checkbox" name="analyses" value="{name}">' in html
        assert spec.description.replace("'", "&#x27;") in html
    assert "Files up to 7 MB." in html
    assert 'data-max-bytes="7340032"' in html
    assert 'data-uploads-url="/api/v1/uploads/"' in html
    assert 'data-jobs-url="/api/v1/jobs/"' in html
    assert 'data-terminal="cancelled failed succeeded"' in html
    for element in ('id="dropzone"', 'type="file" id="media"', 'select id="confidentiality"',
                    'select id="urgency"', 'id="start"', 'progress id="upload-progress"',
                    'id="upload-status"', 'id="upload-error"', 'id="job"', 'id="job-state"',
                    'id="job-placement"', 'progress id="job-progress"', 'id="job-eta"',
                    'id="job-link"', 'id="report-link"', 'name="csrf-token"'):
        assert element in html, element


def test_the_upload_page_has_no_inline_script_and_loads_its_own(alice):
    page = browser(alice).get("/upload/")
    html = page.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts == [(' src="/static/analyst/upload.js" defer', "")]
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert "javascript:" not in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert finders.find("analyst/upload.js")


def test_every_element_the_script_asks_for_is_on_the_page(alice):
    html = browser(alice).get("/upload/").content.decode()
    script = Path(finders.find("analyst/upload.js")).read_text()
    wanted = set(re.findall(r'\$\("([\w-]+)"\)', script))
    assert {"media", "dropzone", "start", "job-state", "report-link"} <= wanted
    assert [name for name in sorted(wanted) if f'id="{name}"' not in html] == []
    # And the data attributes it reads from the form.
    for attribute in re.findall(r"form\.dataset\.(\w+)", script):
        spelled = re.sub(r"[A-Z]", lambda m: "-" + m.group().lower(), attribute)
        assert f"data-{spelled}=" in html, attribute


# ---------------------------------------------------------------- the list of jobs


def test_the_list_shows_only_the_callers_jobs_newest_first(alice, make_user):
    # Ran on a rented instance: it costs what the instance charged it.
    older = make_job(alice, "older.mp4", cost=0.5, placement={"scope": "cloud"},
                     running_at=timezone.now() - timedelta(minutes=5))
    newer = running_job(alice)
    theirs = make_job(make_user("bob"), "bobs-secret.mp4")
    html = browser(alice).get("/jobs/").content.decode()
    rows = re.findall(r'<tr data-job-id="([0-9a-f-]+)">', html)
    assert rows == [str(newer.id), str(older.id)]
    assert str(theirs.id) not in html and "bobs-secret.mp4" not in html
    assert SENTENCE in html
    assert "0.50 USD" in html
    assert f'href="/jobs/{older.id}/"' in html
    assert '<progress max="100" value="100">' in html  # the finished one


def test_the_list_is_paginated(alice, settings):
    for index in range(51):
        make_job(alice, f"clip-{index}.mp4")
    client = browser(alice)
    first = client.get("/jobs/").content.decode()
    assert first.count("<tr data-job-id=") == 50 and "page 1 of 2" in first
    assert client.get("/jobs/?page=2").content.decode().count("<tr data-job-id=") == 1


# ---------------------------------------------------------------- one job


def test_another_users_job_is_not_there_but_an_operator_sees_it(alice, make_user):
    theirs = make_job(make_user("bob"), "bobs.mp4")
    assert browser(alice).get(f"/jobs/{theirs.id}/").status_code == 404
    page = browser(make_user("olga", role=Role.OPERATOR)).get(f"/jobs/{theirs.id}/")
    assert page.status_code == 200 and "bobs.mp4" in page.content.decode()


def test_a_finished_job_shows_its_progress_and_report_link(alice):
    job = make_job(alice, "done.mp4", analyses=["vad"])
    html = browser(alice).get(f"/jobs/{job.id}/").content.decode()
    assert '<span id="job-state" class="state state-succeeded">succeeded</span>' in html
    assert '<progress id="job-progress" max="100" value="100">' in html
    assert f'<a id="report-link" href="/api/v1/jobs/{job.id}/report/?format=html">' in html
    assert 'http-equiv="refresh"' not in html


def test_a_running_job_shows_its_placement_and_eta_and_refreshes(alice):
    job = running_job(alice)
    finish_vad_segment(job, 0)
    html = browser(alice).get(f"/jobs/{job.id}/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in html
    assert f'<dd id="job-placement">{SENTENCE}</dd>' in html
    assert "1 of 5 analysis-segments, 17 %" in html  # 0.6 of 3.36 estimated seconds
    eta = re.search(r'<dd id="job-eta">([^<]*)</dd>', html).group(1)
    assert re.fullmatch(r"\d+ min \d\d s|\d+ s", eta), eta


def test_a_queued_job_says_why_it_waits(alice):
    job = make_job(alice, state=JobState.QUEUED, wait_reason="the cap of 2 cloud instances",
                   placement={"placed": True, "reason": SENTENCE})
    html = browser(alice).get(f"/jobs/{job.id}/").content.decode()
    assert f"{SENTENCE} Waiting: the cap of 2 cloud instances" in html


# ---------------------------------------------------------------- the report


def test_the_report_shows_a_running_jobs_progress(alice, api):
    job = running_job(alice)
    finish_vad_segment(job, 0)
    page = api.get(f"/api/v1/jobs/{job.id}/report/?format=html")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<progress max="100" value="17">' in html
    assert "1 of 5 analysis-segments done, 17 %, about" in html
    body = api.get(f"/api/v1/jobs/{job.id}/report/").json()
    assert body["job"]["progress"]["done"] == 1 and body["job"]["progress"]["total"] == 5


def test_a_finished_report_shows_no_progress(alice, api):
    job = make_job(alice, analyses=["vad"])
    html = api.get(f"/api/v1/jobs/{job.id}/report/?format=html").content.decode()
    assert 'id="progress"' not in html
