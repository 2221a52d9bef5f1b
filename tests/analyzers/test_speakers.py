"""Who spoke when, on real espeak-ng voices: a two-voice dialogue, a monologue, a job cut
in two and joined, and an enrolled voice named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.analyzers.clustering import cluster
from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.speakers import diarize, voice_of
from agents.analyzers.voice import enrolment
from agents.model_cache import packaged_models
from agents.samples import read_wav, trimmed, write_wav
from aima_tasks.kernel.analyses.diarization import SPEAKERS, average_link, join_speakers, turns
from tests.analyzers.speech_media import spoken

RATE = 16_000
PAUSE_S = 0.5
TOLERANCE_S = 0.5
FIRST, SECOND = "en-us", "en-us+f3"
LINES = ["The weather was cold and wet all week long.",
         "Yes, and the trains were late every single morning.",
         "We should buy a new umbrella before the winter comes.",
         "I left mine at the office on Tuesday afternoon.",
         "Then let us go to the shop near the station today.",
         "Good idea, I will meet you there at five o'clock."]


def line_pcm(folder: Path, text: str, voice: str) -> np.ndarray:
    """``text`` in ``voice``, trimmed to its sound, resampled to 16 kHz (linear)."""
    pcm, rate = read_wav(spoken(folder / "line.wav", text, voice))
    pcm = trimmed(pcm).astype(np.float64)
    count = round(len(pcm) * RATE / rate)
    return np.interp(np.arange(count) * rate / RATE, np.arange(len(pcm)), pcm)


def conversation(path: Path, voices: list[str],
                 lines: list[str] = LINES) -> list[tuple[float, float, str]]:
    """``lines`` spoken in turn by ``voices`` between PAUSE_S pauses; the truth:
    (start_s, end_s, voice) per line."""
    silence = np.zeros(round(PAUSE_S * RATE))
    pieces, truth, at = [silence], [], PAUSE_S
    for index, text in enumerate(lines):
        voice = voices[index % len(voices)]
        pcm = line_pcm(path.parent, text, voice)
        truth.append((at, at + len(pcm) / RATE, voice))
        pieces += [pcm, silence]
        at += len(pcm) / RATE + PAUSE_S
    write_wav(path, np.round(np.concatenate(pieces)), RATE)
    return truth


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    return packaged_models(SPEAKERS.models)


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory) -> tuple[Path, list[tuple[float, float, str]]]:
    path = tmp_path_factory.mktemp("speakers") / "dialogue.wav"
    return path, conversation(path, [FIRST, SECOND])


@pytest.fixture(scope="module")
def whole(dialogue, models) -> dict:
    return diarize(dialogue[0], AnalysisContext(builtin=models))


def test_a_dialogue_of_two_voices_has_two_speakers_in_turn(dialogue, whole):
    _, truth = dialogue
    assert [s["label"] for s in whole["speakers"]] == ["S1", "S2"]
    assert [t["speaker"] for t in whole["turns"]] == ["S1", "S2"] * 3
    for turn, (start, end, _) in zip(whole["turns"], truth, strict=True):
        assert abs(turn["start_s"] - start) <= TOLERANCE_S, (turn, start)
        assert abs(turn["end_s"] - end) <= TOLERANCE_S, (turn, end)
    speaking = {voice: sum(e - s for s, e, v in truth if v == voice) for voice in (FIRST, SECOND)}
    for speaker, voice in zip(whole["speakers"], (FIRST, SECOND), strict=True):
        assert speaker["speech_s"] == pytest.approx(speaking[voice], abs=0.5)
        assert len(speaker["centroid"]) == 256 and speaker["name"] is None
    assert whole["duration_s"] == pytest.approx(truth[-1][1] + PAUSE_S, abs=0.01)


def test_one_voice_is_one_speaker(tmp_path, models):
    path = tmp_path / "monologue.wav"
    truth = conversation(path, ["de+f4"])
    result = diarize(path, AnalysisContext(builtin=models))
    assert [s["label"] for s in result["speakers"]] == ["S1"]
    assert result["turns"][0]["start_s"] == pytest.approx(truth[0][0], abs=TOLERANCE_S)
    assert result["turns"][-1]["end_s"] == pytest.approx(truth[-1][1], abs=TOLERANCE_S)


def test_a_word_or_two_joins_its_speaker_instead_of_founding_one(tmp_path, models):
    path = tmp_path / "greeting.wav"
    truth = conversation(path, ["de", "de", "de+f4", "de", "de"], [
        "Guten Morgen.", "Wie war Ihre Reise nach Berlin gestern Abend?",
        "Sehr angenehm, danke, der Zug war pünktlich.", "Schön.",
        "Erzählen Sie uns bitte, woran Sie gerade arbeiten."])
    result = diarize(path, AnalysisContext(builtin=models))
    assert [s["label"] for s in result["speakers"]] == ["S1", "S2"]
    # A speaker's lines between short pauses are one turn.
    assert [(t["speaker"], t["start_s"], t["end_s"]) for t in result["turns"]] == [
        ("S1", pytest.approx(truth[0][0], abs=TOLERANCE_S),
         pytest.approx(truth[1][1], abs=TOLERANCE_S)),
        ("S2", pytest.approx(truth[2][0], abs=TOLERANCE_S),
         pytest.approx(truth[2][1], abs=TOLERANCE_S)),
        ("S1", pytest.approx(truth[3][0], abs=TOLERANCE_S),
         pytest.approx(truth[4][1], abs=TOLERANCE_S))]


@pytest.mark.parametrize("cut", ["in a pause", "inside a line"])
def test_halves_join_into_the_whole(dialogue, whole, models, cut):
    path, truth = dialogue
    # Line 3 (the second voice) is cut in two, or the cut falls in the pause after it.
    middle = truth[3][1] + PAUSE_S / 2 if cut == "in a pause" else sum(truth[3][:2]) / 2
    halves = [diarize(path, AnalysisContext(builtin=models, start_s=start, end_s=end))
              for start, end in ((0.0, middle), (middle, None))]
    joined = join_speakers(halves)
    assert [s["label"] for s in joined["speakers"]] == ["S1", "S2"]
    assert [t["speaker"] for t in joined["turns"]] == [t["speaker"] for t in whole["turns"]]
    for part, full in zip(joined["turns"], whole["turns"], strict=True):
        assert part["start_s"] == pytest.approx(full["start_s"], abs=0.3)
        assert part["end_s"] == pytest.approx(full["end_s"], abs=0.3)
    for part, full in zip(joined["speakers"], whole["speakers"], strict=True):
        assert np.dot(part["centroid"], full["centroid"]) > 0.97
    assert joined["duration_s"] == pytest.approx(whole["duration_s"], abs=0.01)


def enrolled_voice(folder: Path, name: str, text: str, voice: str) -> LoadedModel:
    clip = write_wav(folder / f"{name}.wav", np.round(line_pcm(folder, text, voice)), RATE)
    path = folder / f"{name}.json"
    path.write_text(enrolment(name, voice_of(clip)))
    return LoadedModel(name, "1", "-", path)


def test_an_enrolled_voice_is_named(tmp_path, dialogue, models):
    # Enrolled from other words than the dialogue's, as a user would; Bert's voice is
    # another, near the first speaker's but not near enough to lend it his name.
    references = (
        enrolled_voice(tmp_path, "Anna", "My name is Anna and I live in a small town by the "
                                         "sea with my two cats.", SECOND),
        enrolled_voice(tmp_path, "Bert", "Hello, I am Bert and I work at the harbour.",
                       "en-us+m7"))
    result = diarize(dialogue[0], AnalysisContext(builtin=models, references=references))
    assert [(s["label"], s["name"]) for s in result["speakers"]] == [("S1", None),
                                                                       ("S2", "Anna")]


def test_the_report_shows_turns_without_voice_centroids(whole):
    shown = turns(whole)
    assert set(shown) == {"speakers", "turns"}
    assert all("centroid" not in speaker for speaker in shown["speakers"])
    assert shown["speakers"][0] == {"label": "S1", "name": None,
                                    "speech_s": whole["speakers"][0]["speech_s"]}
    assert shown["turns"] == sorted(whole["turns"], key=lambda t: t["start_s"])


def voice(*values: float) -> list[float]:
    return list(values) + [0.0] * (256 - len(values))


def part(speakers: list[tuple[str, list[float], float]], spoken: list[tuple[str, float, float]],
         duration: float) -> dict:
    return {"model": {"name": "resemblyzer-voice-encoder", "version": "0.1.4"},
            "speakers": [{"label": label, "name": None, "speech_s": speech, "centroid": centroid}
                         for label, centroid, speech in speakers],
            "turns": [{"speaker": label, "start_s": start, "end_s": end}
                      for label, start, end in spoken],
            "duration_s": duration}


def test_join_relabels_by_voice_and_mends_a_turn_cut_by_the_boundary():
    anna, bert, carl = voice(1.0, 0.1), voice(0.1, 1.0), voice(0.0, 0.0, 1.0)
    first = part([("S1", anna, 4.0), ("S2", bert, 2.0)],
                 [("S1", 0.5, 4.5), ("S2", 5.0, 10.0)], 10.0)
    # The second segment meets Carl first, then Bert (cut at 10 s) and Anna.
    second = part([("S1", carl, 1.0), ("S2", voice(0.12, 1.0), 3.0), ("S3", voice(1.0, 0.08), 2.0)],
                  [("S2", 10.0, 12.0), ("S1", 12.5, 13.5), ("S3", 14.0, 16.0)], 10.0)
    second["speakers"][2]["name"] = "Anna"
    joined = join_speakers([first, second])
    assert [(t["speaker"], t["start_s"], t["end_s"]) for t in joined["turns"]] == [
        ("S1", 0.5, 4.5), ("S2", 5.0, 12.0), ("S3", 12.5, 13.5), ("S1", 14.0, 16.0)]
    assert [(s["label"], s["name"], s["speech_s"]) for s in joined["speakers"]] == [
        ("S1", "Anna", 6.0), ("S2", None, 5.0), ("S3", None, 1.0)]
    assert joined["duration_s"] == 20.0
    assert join_speakers([])["speakers"] == []


def test_two_speakers_of_one_segment_are_never_joined():
    close = part([("S1", voice(1.0, 0.1), 2.0), ("S2", voice(1.0, 0.12), 2.0)],
                 [("S1", 0.0, 2.0), ("S2", 2.5, 4.5)], 5.0)
    assert [s["label"] for s in join_speakers([close])["speakers"]] == ["S1", "S2"]


def test_the_agent_and_the_kernel_cluster_alike():
    # The agent clusters windows in numpy, the join clusters segment speakers in pure
    # Python: with equal weights both are plain average link and must agree.
    rng = np.random.default_rng(3)
    for _ in range(5):
        points = np.concatenate([centre + rng.normal(0, 0.25, (15, 16))
                                 for centre in rng.random((4, 16))])
        normed = points / np.linalg.norm(points, axis=1, keepdims=True)
        distance = 1.0 - normed @ normed.T
        np.fill_diagonal(distance, np.inf)
        for threshold in (0.05, 0.1, 0.3):
            ours = cluster(points, threshold)
            kernel = np.array(average_link(distance.tolist(), [1.0] * len(points), threshold))
            assert np.array_equal(ours[:, None] == ours[None], kernel[:, None] == kernel[None])
