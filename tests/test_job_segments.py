"""Long media cut into segments: each part stored once as it arrives, the job ended
when the last is in, a redelivered part never stored twice nor redone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aima_tasks.kernel import segments
from aima_tasks.kernel.work import AnalysisOutcome, AnalysisWork, OutcomeStatus, ResultItem
from aima_web.jobs import services
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset, SegmentResult
from aima_web.jobs.states import JobState

SPANS = [[0.0, 4.0], [4.0, 8.0], [8.0, 12.0]]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_cut_makes_equal_spans_only_for_long_media():
    assert segments.cut(100.0, 120.0, 200) == []
    assert segments.cut(None, 120.0, 200) == []
    assert segments.cut(300.0, 0, 200) == []  # turned off
    spans = segments.cut(250.0, 120.0, 200)
    assert spans == [(0.0, 83.333), (83.333, 166.667), (166.667, 250.0)]
    assert len(segments.cut(10_000.0, 1.0, 50)) == 50


def test_units_split_joinable_analyses_by_segment_and_run_the_rest_whole():
    work = AnalysisWork(job_id="j", sha256="s", size_bytes=1, media_type="video",
                        analyses=("people", "loudness", "vad"), confidentiality="internal")
    units = segments.units(work, [(0.0, 4.0), (4.0, 8.0)])
    assert [(u.analyses, u.segment, u.start_s, u.end_s) for u in units] == [
        (("loudness",), 0, 0.0, None), (("people", "vad"), 0, 0.0, 4.0),
        (("people", "vad"), 1, 4.0, 8.0)]
    assert segments.units(work, []) == [work]
    assert segments.expected_parts(["people", "loudness"], [(0, 4), (4, 8)]) == {
        ("people", 0), ("people", 1), ("loudness", 0)}
    # Units cross the broker as plain data and come back equal.
    assert [AnalysisWork.from_dict(u.to_dict()) for u in units] == units


@pytest.fixture
def job(alice) -> Job:
    asset = MediaAsset.objects.create(sha256="cd" * 32, size_bytes=10, media_type="video",
                                      metadata={"duration_s": 12.0})
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                             analyses=["people", "loudness"], segments=SPANS)
    for state in (JobState.PROBING, JobState.PLACING, JobState.QUEUED, JobState.RUNNING):
        assert Job.objects.transition(job.id, state)
    return job


def track(start: float, end: float) -> dict:
    """Someone walking right at 20 px/s."""
    times = [round(start + i * 0.2, 3) for i in range(round((end - start) / 0.2) + 1)]
    boxes = [{"t": t, "box": [round(10 + t * 20), 50, 40, 100], "score": 0.9} for t in times]
    return {"id": 1, "label": "person", "start_s": start, "end_s": end,
            "samples": len(boxes), "boxes": boxes}


def part(job: Job, index: int, analysis: str = "people", agent_id: int | None = None,
         errors: tuple[str, ...] = ()) -> AnalysisOutcome:
    start, end = SPANS[index]
    data = {"detector": {"name": "d", "version": "1"}, "sample_fps": 5.0,
            "frames_analysed": 20, "width": 640, "height": 360,
            "tracks": [track(start, end - 0.2)], "track_count": 1}
    if analysis == "loudness":
        data = {"integrated_lufs": -20.0}
    at = (T0 + timedelta(seconds=index)).isoformat()
    return AnalysisOutcome(
        job_id=str(job.id), status=OutcomeStatus.DONE, agent_id=agent_id, segment=index,
        results=(ResultItem(analysis, data, at, at,
                            meta={"models": [{"name": "m", "version": "1", "sha256": "ab"}],
                                  "device": "cpu", "segment": index, "start_s": start,
                                  "end_s": end}),),
        errors=errors)


@pytest.mark.django_db
def test_parts_are_stored_as_they_arrive_and_joined_when_the_last_is_in(job):
    assert services.finish(part(job, 2)) is None
    assert services.finish(part(job, 0, "loudness")) is None
    assert services.finish(part(job, 0)) is None
    assert Job.objects.get(pk=job.pk).state == JobState.RUNNING
    assert services.wanted_parts(job, 1, ["people"]) == ["people"]
    assert services.wanted_parts(job, 2, ["people"]) == []
    assert services.finish(part(job, 1)) == JobState.SUCCEEDED
    people = AnalysisResult.objects.get(job=job, analysis="people")
    # One person walking through all three segments: one track, stitched.
    assert people.data["track_count"] == 1 and people.data["frames_analysed"] == 60
    assert people.data["tracks"][0]["start_s"] == 0.0
    assert people.data["tracks"][0]["end_s"] == pytest.approx(11.8)
    assert [s["index"] for s in people.meta["segments"]] == [0, 1, 2]
    assert people.meta["models"] == [{"name": "m", "version": "1", "sha256": "ab"}]
    assert AnalysisResult.objects.get(job=job, analysis="loudness").data == {
        "integrated_lufs": -20.0}


@pytest.mark.django_db
def test_a_redelivered_part_is_neither_stored_twice_nor_overwritten(job):
    services.finish(part(job, 0, agent_id=None))
    first = SegmentResult.objects.get(job=job, index=0)
    again = part(job, 0)
    later = AnalysisOutcome(**{**again.__dict__, "results": (ResultItem(
        "people", {"tracks": []}, T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()),)})
    assert services.finish(later) is None
    assert SegmentResult.objects.filter(job=job, analysis="people", index=0).count() == 1
    assert SegmentResult.objects.get(pk=first.pk).data == first.data


@pytest.mark.django_db
def test_a_failed_part_fails_the_job_and_keeps_the_analyses_that_were_complete(job):
    services.finish(part(job, 0, "loudness"))
    services.finish(part(job, 0))
    assert services.finish(part(job, 1, errors=("people: model m 1 refused",))) == JobState.FAILED
    job.refresh_from_db()
    assert job.error == "people: model m 1 refused"
    # loudness was complete; people was not and is not passed off as whole.
    assert list(job.results.values_list("analysis", flat=True)) == ["loudness"]


@pytest.mark.django_db
def test_parts_that_cannot_be_joined_fail_the_job_naming_the_analysis(job):
    """An agent's parts not shaped as the analysis promised: the job fails, saying which
    analysis could not be joined, instead of every report of the last part failing."""
    services.finish(part(job, 0, "loudness"))
    for index in range(len(SPANS)):
        malformed = part(job, index)
        broken = ResultItem("people", {"tracks": [{"id": 1, "label": "person"}]},
                            malformed.results[0].started_at, malformed.results[0].finished_at,
                            meta=malformed.results[0].meta)
        outcome = AnalysisOutcome(**{**malformed.__dict__, "results": (broken,)})
        state = services.finish(outcome)
    assert state == JobState.FAILED
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error.startswith("people: its segment results could not be joined (KeyError")
