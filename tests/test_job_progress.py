"""A job in segments reports its progress in the API while its parts arrive: the
fraction rises monotonically to 1.0, a redelivered part takes nothing back, and a
failed job keeps its figure with no ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aima_tasks.kernel.work import AnalysisOutcome, OutcomeStatus, ResultItem
from aima_web.jobs import services
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState

SPANS = [[0.0, 60.0], [60.0, 120.0], [120.0, 180.0], [180.0, 240.0]]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def job(alice) -> Job:
    asset = MediaAsset.objects.create(sha256="ef" * 32, size_bytes=10, media_type="video",
                                      metadata={"duration_s": 240.0})
    placement = {"placed": True, "choice": {"runtime_s": 480.0, "scope": "local"}}
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                             analyses=["loudness", "vad"], segments=SPANS, placement=placement)
    for state in (JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING):
        assert Job.objects.transition(job.id, state)
    return job


def part(job: Job, analysis: str, index: int, errors: tuple[str, ...] = ()) -> AnalysisOutcome:
    """One unit's outcome as an agent reports it (vad is cut, loudness runs whole)."""
    start, end = SPANS[index] if analysis == "vad" else (0.0, 240.0)
    data = ({"integrated_lufs": -20.0} if analysis == "loudness"
            else {"model": "silero", "threshold": 0.5, "segments": [], "duration_s": end - start})
    at = (T0 + timedelta(seconds=index)).isoformat()
    return AnalysisOutcome(
        job_id=str(job.id), status=OutcomeStatus.DONE, agent_id=None, segment=index,
        results=(ResultItem(analysis, data, at, at, meta={
            "models": [], "device": "cpu", "segment": index, "start_s": start, "end_s": end}),),
        errors=errors)


def shown(api, job: Job) -> dict:
    response = api.get(f"/api/v1/jobs/{job.id}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_progress_rises_monotonically_to_one_as_parts_arrive(api, job):
    first = shown(api, job)["progress"]
    assert first["fraction"] == 0.0 and (first["done"], first["total"]) == (0, 5)
    assert first["unit"] == "analysis-segment"
    assert first["eta_seconds"] > 0 and first["eta_at"]
    arrivals = [part(job, "vad", 0), part(job, "vad", 1), part(job, "vad", 1),  # redelivered
                part(job, "loudness", 0), part(job, "vad", 2), part(job, "vad", 3)]
    seen = [first]
    for outcome in arrivals:
        services.finish(outcome)
        seen.append(shown(api, job)["progress"])
    fractions = [p["fraction"] for p in seen]
    assert fractions == sorted(fractions), fractions
    assert [p["done"] for p in seen] == [0, 1, 2, 2, 3, 4, 5]
    # Estimated work, not counts: loudness (0.004 s per media second over 240 s: 0.96)
    # weighs more than a vad quarter (0.01 over 60 s: 0.6) of the 3.36 in all.
    assert seen[1]["fraction"] == pytest.approx(0.6 / 3.36, abs=1e-4)
    assert seen[4]["fraction"] - seen[3]["fraction"] == pytest.approx(0.96 / 3.36, abs=1e-3)
    for running in seen[:-1]:
        assert running["fraction"] < 1.0 and running["eta_seconds"] is not None
    last = seen[-1]
    assert shown(api, job)["state"] == JobState.SUCCEEDED
    assert last["fraction"] == 1.0 and last["eta_seconds"] == 0.0 and last["done"] == 5


@pytest.mark.django_db
def test_a_failed_job_keeps_its_progress_and_has_no_eta(api, job):
    services.finish(part(job, "vad", 0))
    services.finish(part(job, "vad", 1, errors=("vad: model refused",)))
    body = shown(api, job)
    assert body["state"] == JobState.FAILED
    assert body["progress"]["done"] == 2 and 0.0 < body["progress"]["fraction"] < 1.0
    assert body["progress"]["eta_seconds"] is None and body["progress"]["eta_at"] is None


@pytest.mark.django_db
def test_a_job_not_yet_placed_has_nothing_to_count(api, alice):
    asset = MediaAsset.objects.create(sha256="ab" * 32, size_bytes=10, media_type="image")
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal")
    assert shown(api, job)["progress"] == {"fraction": 0.0, "done": 0, "total": 0,
                                           "eta_seconds": None, "eta_at": None,
                                           "unit": "analysis-segment"}
