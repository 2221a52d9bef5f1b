"""The job report endpoint: JSON sections, the HTML page, access and formats."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.analyses.facts import Fact
from aima_web.access.roles import Role
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

DETECTOR_SHA = "a1" * 32
WHISPER_SHA = "b2" * 32
HOSTILE_NAME = "<script>alert('x')</script>.mp4"

VIDEO_PROBE = {
    "media_type": "video", "sha256": "11" * 32, "size_bytes": 123456, "container": "mov,mp4",
    "duration_s": 20.0,
    "video": {"codec": "h264", "width": 1280, "height": 720, "fps": 25.0, "frame_count": 500},
    "audio": {"codec": "aac", "sample_rate": 48000, "channels": 2, "bitrate": 128000},
    "image": None,
}
IMAGE_PROBE = {
    "media_type": "image", "sha256": "22" * 32, "size_bytes": 5000, "container": "jpeg",
    "duration_s": None, "video": None, "audio": None,
    "image": {"format": "JPEG", "width": 640, "height": 480, "mode": "RGB", "frames": 1,
              "exif": {"Make": "Camera"}},
}


def make_job(owner, probe: dict, name: str = "clip.mp4", state: str = "succeeded",
             **fields) -> Job:
    asset = MediaAsset.objects.create(sha256=probe["sha256"], size_bytes=probe["size_bytes"],
                                      media_type=probe["media_type"], metadata=probe)
    finished = timezone.now() if state in {"succeeded", "failed", "cancelled"} else None
    return Job.objects.create(owner=owner, media=asset, media_name=name,
                              confidentiality="internal", state=state, finished_at=finished,
                              **fields)


def add_result(job: Job, analysis: str, data: Any, meta: dict | None = None,
               offset_s: int = 0) -> AnalysisResult:
    start = timezone.now() - timedelta(minutes=10) + timedelta(seconds=offset_s)
    return AnalysisResult.objects.create(
        job=job, analysis=analysis, data=data, meta=meta or {}, gpu_uuid="GPU-1234",
        started_at=start, finished_at=start + timedelta(seconds=4))


def model_meta(name: str, sha256: str, segments: list | None = None) -> dict:
    return {"models": [{"name": name, "version": "1.0", "sha256": sha256}], "device": "cuda",
            "precision": "fp16", "batch_size": 8, "segments": segments or []}


def box(t: float) -> dict:
    return {"t": t, "box": [10, 20, 30, 40], "score": 0.9}


@pytest.fixture
def video_job(alice) -> Job:
    job = make_job(alice, VIDEO_PROBE, analyses=["people", "vad", "transcript", "shots",
                                                 "silence", "loudness", "gaitprint"])
    detector = {"name": "yolo-person", "version": "1.0"}
    add_result(job, "people", {
        "detector": detector, "sample_fps": 2, "frames_analysed": 40, "width": 1280,
        "height": 720, "track_count": 2,
        "tracks": [  # stored out of order: the report sorts
            {"id": 2, "label": "person", "start_s": 8.0, "end_s": 15.0, "samples": 2,
             "boxes": [box(15.0), box(8.0)]},
            {"id": 1, "label": "person", "start_s": 1.0, "end_s": 9.5, "samples": 3,
             "boxes": [box(9.5), box(1.0), box(5.0)]},
        ]}, model_meta("yolo-person", DETECTOR_SHA, segments=[
            {"index": 1, "start_s": 10.0, "end_s": 20.0, "agent_id": None, "gpu_uuid": "GPU-B"},
            {"index": 0, "start_s": 0.0, "end_s": 10.0, "agent_id": None, "gpu_uuid": "GPU-A"},
        ]))
    add_result(job, "vad", {
        "model": {"name": "silero-vad", "version": "5"}, "threshold": 0.5,
        "segments": [{"start_s": 9.0, "end_s": 14.0}, {"start_s": 2.0, "end_s": 5.0},
                     {"start_s": 13.5, "end_s": 14.2}],  # overlap where segments met
        "speech_s": 8.2, "speech_share": 0.41, "duration_s": 20.0},
        model_meta("silero-vad", "c3" * 32), offset_s=1)
    add_result(job, "silence", {
        "threshold_dbfs": -40.0, "min_silence_s": 0.3, "segments": [{"start_s": 0, "end_s": 1}],
        "segment_count": 1, "silent_share": 0.05, "sound_share": 0.95, "duration_s": 20.0},
        offset_s=2)
    add_result(job, "transcript", {
        "model": {"name": "whisper-small", "version": "2"}, "language": "en",
        "text": "hello brave new world",
        "words": [{"word": "world", "start_s": 4.1, "end_s": 4.6, "confidence": 0.9},
                  {"word": "hello", "start_s": 2.1, "end_s": 2.5, "confidence": 0.95},
                  {"word": "brave", "start_s": 2.6, "end_s": 3.0, "confidence": 0.8},
                  {"word": "new", "start_s": 3.2, "end_s": 3.5, "confidence": 0.85}],
        "duration_s": 20.0}, model_meta("whisper-small", WHISPER_SHA), offset_s=3)
    add_result(job, "shots", {
        "shots": [{"index": 1, "start_s": 12.0, "end_s": 20.0, "start_frame": 300,
                   "end_frame": 499, "keyframe": {"time_s": 16.0, "frame": 400}},
                  {"index": 0, "start_s": 0.0, "end_s": 12.0, "start_frame": 0,
                   "end_frame": 299, "keyframe": {"time_s": 6.0, "frame": 150}}],
        "cut_count": 1, "frames_analysed": 500, "fps": 25.0, "duration_s": 20.0}, offset_s=4)
    add_result(job, "loudness", {"integrated_lufs": -23.1, "sample_peak_dbfs": -1.2,
                                 "rms_dbfs": -20.5, "momentary": [], "duration_s": 20.0},
               offset_s=5)
    add_result(job, "gaitprint", {"walkers": [{"id": 7, "signature": "<b>odd</b>"}]},
               offset_s=6)
    return job


@pytest.fixture
def image_job(alice) -> Job:
    job = make_job(alice, IMAGE_PROBE, name="photo.jpg", analyses=["objects"])
    add_result(job, "objects", {
        "detector": {"name": "yolo", "version": "8"}, "width": 640, "height": 480,
        "detections": [
            {"label": "dog", "score": 0.55, "box": [1, 2, 3, 4], "source": "yolo"},
            {"label": "person", "score": 0.97, "box": [5, 6, 7, 8], "source": "yolo"},
        ],
        "person_count": 1})  # an old row: no meta at all
    return job


def report(api, job: Job, **params):
    return api.get(f"/api/v1/jobs/{job.id}/report/", params)


def test_video_report_sections_are_in_time_order(api, video_job):
    response = report(api, video_job)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["job"]["id"] == str(video_job.id)
    assert body["job"]["state"] == "succeeded" and body["job"]["finished"] is True
    assert body["media"]["resolution"] == {"width": 1280, "height": 720}
    assert body["media"]["fps"] == 25.0 and body["media"]["audio"]["codec"] == "aac"
    assert [s["kind"] for s in body["media"]["streams"]] == ["video", "audio"]
    timeline = body["timeline"]
    assert timeline["duration_s"] == 20.0
    assert [t["id"] for t in timeline["tracks"]] == [1, 2]
    assert [b["t"] for b in timeline["tracks"][0]["boxes"]] == [1.0, 5.0, 9.5]
    assert [s["index"] for s in timeline["shots"]] == [0, 1]
    assert timeline["detections"] == []
    words = body["transcript"]["words"]
    assert [w["word"] for w in words] == ["hello", "brave", "new", "world"]
    assert body["transcript"]["text"] == "hello brave new world"
    assert body["transcript"]["language"] == "en"
    assert body["summary"]["people"]["track_count"] == 2
    assert "tracks" not in body["summary"]["people"]


def test_speech_map_covers_the_media_from_vad(api, video_job):
    body = report(api, video_job).json()
    spans = body["speech_map"]
    assert body["speech_map_source"] == "vad"
    assert spans[0]["start_s"] == 0 and spans[-1]["end_s"] == 20.0
    for before, after in pairwise(spans):
        assert before["end_s"] == after["start_s"]
        assert before["kind"] != after["kind"]
    assert [(s["start_s"], s["end_s"]) for s in spans if s["kind"] == "speech"] == [
        (2.0, 5.0), (9.0, 14.2)]


def test_speech_map_falls_back_to_silence(api, alice):
    job = make_job(alice, VIDEO_PROBE)
    add_result(job, "silence", {"segments": [{"start_s": 0.0, "end_s": 1.5},
                                             {"start_s": 18.0, "end_s": 20.0}],
                                "duration_s": 20.0})
    body = report(api, job).json()
    assert body["speech_map_source"] == "silence"
    assert [(s["start_s"], s["end_s"], s["kind"]) for s in body["speech_map"]] == [
        (0.0, 1.5, "silence"), (1.5, 18.0, "speech"), (18.0, 20.0, "silence")]


def test_analyses_list_models_with_checksums(api, video_job):
    analyses = {a["analysis"]: a for a in report(api, video_job).json()["analyses"]}
    assert set(analyses) == {"people", "vad", "silence", "transcript", "shots", "loudness",
                             "gaitprint"}
    people = analyses["people"]
    assert people["models"] == [{"name": "yolo-person", "version": "1.0",
                                 "sha256": DETECTOR_SHA}]
    assert (people["device"], people["precision"], people["batch_size"]) == ("cuda", "fp16", 8)
    # Which GPU ran it is for operators (tests/access/test_roles.py).
    assert people["duration_s"] == 4.0 and people["gpu_uuid"] == ""
    assert [s["index"] for s in people["segments"]] == [0, 1]
    assert analyses["transcript"]["models"][0]["sha256"] == WHISPER_SHA
    assert analyses["shots"]["models"] == [] and analyses["shots"]["device"] is None


def test_unknown_and_unsectioned_analyses_are_kept_raw(api, video_job):
    results = report(api, video_job).json()["results"]
    assert set(results) == {"loudness", "gaitprint"}
    assert results["gaitprint"] == {"walkers": [{"id": 7, "signature": "<b>odd</b>"}]}


def test_image_report(api, image_job):
    body = report(api, image_job).json()
    assert [d["label"] for d in body["timeline"]["detections"]] == ["person", "dog"]
    assert body["timeline"]["duration_s"] is None
    assert body["timeline"]["tracks"] == [] and body["timeline"]["shots"] == []
    assert body["speech_map"] == [] and body["speech_map_source"] is None
    assert body["transcript"] == {"language": None, "text": "", "words": [], "utterances": [],
                                  "languages": {}}
    assert body["dialogue"] == [] and body["sound_events"] == []
    assert body["speakers"] == {"speakers": [], "turns": []}
    assert body["media"]["resolution"] == {"width": 640, "height": 480}
    assert body["media"]["exif"] == {"Make": "Camera"}
    # No meta on an old row: the detector named in the data stands in, without checksum.
    (objects,) = body["analyses"]
    assert objects["models"] == [{"name": "yolo", "version": "8", "sha256": None}]
    assert objects["segments"] == [] and objects["device"] is None


def test_unfinished_job_reports_what_exists(api, alice):
    job = make_job(alice, VIDEO_PROBE, state="running", analyses=["shots", "people"],
                   segments=[[0, 10], [10, 20]])
    add_result(job, "shots", {"shots": [{"index": 0, "start_s": 0.0, "end_s": 20.0}]})
    body = report(api, job).json()
    assert body["job"]["state"] == "running" and body["job"]["finished"] is False
    assert body["job"]["pending"] == [{"analysis": "people", "segments_done": 0,
                                       "segments_total": 2}]
    assert len(body["timeline"]["shots"]) == 1
    page = report(api, job, format="html")
    assert page.status_code == 200 and b"finished so far" in page.content


def test_html_page(api, alice, video_job):
    video_job.media_name = HOSTILE_NAME
    video_job.save()
    response = report(api, video_job, format="html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    # A transcript of words only (PocketSphinx's) still reads: one line, no speaker.
    assert "<td>hello brave new world</td>" in page
    assert "#1" in page and "#2" in page  # the person tracks
    assert DETECTOR_SHA in page and WHISPER_SHA in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page
    assert "-23.1 LUFS" in page


def test_html_by_accept_header(api, image_job):
    response = api.get(f"/api/v1/jobs/{image_job.id}/report/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "No timeline" in response.content.decode() and "person" in response.content.decode()


def test_someone_elses_job_is_404(make_user, video_job):
    bob = client_for(make_user("bob"))
    assert report(bob, video_job).status_code == 404
    assert report(bob, video_job, format="html").status_code == 404
    operator = client_for(make_user("carol", role=Role.OPERATOR))
    assert report(operator, video_job).status_code == 200


def test_unknown_format(api, video_job):
    assert report(api, video_job, format="xml").status_code == 404
    response = api.get(f"/api/v1/jobs/{video_job.id}/report/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406


def test_report_in_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert "/api/v1/jobs/{id}/report/" in schema.json()["paths"]


def test_malformed_rows_leave_fields_empty(api, alice):
    job = make_job(alice, {"media_type": "video", "sha256": "33" * 32, "size_bytes": 1})
    add_result(job, "people", {"tracks": [{"id": 3}, "junk", {"start_s": "soon", "boxes": 5}]},
               meta={"models": ["bare-name"], "segments": "junk"})
    add_result(job, "vad", {"segments": [{"start_s": None}, {"start_s": 1, "end_s": 2}]})
    add_result(job, "transcript", {"words": [{"word": "hi"}, {"start_s": 1.0}]})
    add_result(job, "plugin", ["a", "list"])
    body = report(api, job).json()
    assert [t.get("id") for t in body["timeline"]["tracks"]] == [3, None]
    assert body["timeline"]["duration_s"] == 2.0  # the longest any analysis saw
    assert [s["kind"] for s in body["speech_map"]] == ["silence", "speech"]
    assert body["results"]["plugin"] == ["a", "list"]
    people = next(a for a in body["analyses"] if a["analysis"] == "people")
    assert people["models"] == [{"name": "bare-name", "version": None, "sha256": None}]
    assert people["segments"] == []
    assert report(api, job, format="html").status_code == 200


@pytest.fixture
def picture_job(alice) -> Job:
    job = make_job(alice, {**IMAGE_PROBE, "sha256": "44" * 32}, name="pic.png",
                   analyses=["phash", "colours"])
    add_result(job, "phash", {"phash": "abcd1234abcd1234", "dhash": "ffff0000ffff0000"})
    add_result(job, "colours", {"colours": [
        {"hex": "#a0b1c2", "share": 0.505},
        {"hex": "red;background:url(https://evil.example/x)", "share": 0.2},  # a forged row
        {"hex": "#0A0B0C\"><b>x</b>", "share": 0.1}, "junk", {"share": 0.1},
        {"hex": "#ABCDEF", "share": 0.125}]}, offset_s=1)
    return job


def test_html_facts_in_catalogue_order_with_only_checked_colours(api, picture_job):
    page = report(api, picture_job, format="html").content.decode()
    assert page.index("<dt>Colours</dt>") < page.index("<dt>pHash / dHash</dt>")
    assert "<code>abcd1234abcd1234 / ffff0000ffff0000</code>" in page
    assert page.count('class="swatch"') == 2
    assert 'style="background:#a0b1c2"></span>#a0b1c2 0.51' in page  # halves round up
    assert 'style="background:#ABCDEF"></span>#ABCDEF 0.13' in page
    assert "evil.example" not in page and "#0A0B0C" not in page and "<b>x" not in page
    assert "Other results" not in page  # both declare facts


def test_a_plugins_facts_are_shown_and_its_result_no_longer_raw(api, video_job, monkeypatch):
    before = report(api, video_job).content
    specs = catalogue().specs
    monkeypatch.setitem(specs, "gaitprint", replace(
        specs["phash"], name="gaitprint",
        facts=lambda result: [Fact("Walkers", str(len(result["walkers"])))]))
    page = report(api, video_job, format="html").content.decode()
    assert "<dt>Walkers</dt><dd>1</dd>" in page
    assert "Other results" not in page and "&lt;b&gt;odd" not in page
    assert report(api, video_job).content == before  # facts are the page's, not the JSON's


def test_the_page_names_no_analysis_with_facts():
    jobs = Path(__file__).resolve().parents[1] / "aima_web" / "jobs"
    code = (jobs / "report.py").read_text() + (jobs / "templates/jobs/report.html").read_text()
    named = [name for name, spec in catalogue().specs.items() if spec.facts and name in code]
    assert named == []


def test_a_plugins_failing_report_functions_leave_their_part_empty(api, video_job, monkeypatch,
                                                                     caplog):
    """A plugin's facts or section function that fails on a result leaves its part of the
    page empty, logged, instead of failing the whole report."""
    def broken(result):
        raise KeyError("walkers")

    specs = catalogue().specs
    monkeypatch.setitem(specs, "gaitprint", replace(specs["phash"], name="gaitprint",
                                                    facts=broken))
    page = report(api, video_job, format="html")
    assert page.status_code == 200 and "Walkers" not in page.content.decode()
    assert "the report part of analysis gaitprint failed" in caplog.text
    shots = specs["shots"]
    monkeypatch.setitem(specs, "shots", replace(shots, sections=tuple(
        replace(section, build=broken) for section in shots.sections)))
    body = report(api, video_job).json()
    assert report(api, video_job).status_code == 200
    assert body["timeline"]["shots"] == []


def test_a_result_its_facts_make_nothing_of_is_shown_raw(api, alice, monkeypatch):
    """Facts that come out empty (a loudness result without its measures, a plugin's
    function answering None) hide nothing: the result is listed raw instead."""
    job = make_job(alice, VIDEO_PROBE, analyses=["loudness", "gaitprint"])
    add_result(job, "loudness", {"odd_key": 1})
    add_result(job, "gaitprint", {"walkers": ["w"]}, offset_s=1)
    specs = catalogue().specs
    monkeypatch.setitem(specs, "gaitprint", replace(specs["phash"], name="gaitprint",
                                                    facts=lambda result: None))
    page = report(api, job, format="html")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Other results" in text and "odd_key" in text and "walkers" in text

