"""Voice activity and transcription with the packaged models (Silero VAD 6, PocketSphinx
US English) on speech synthesized by espeak-ng, checked against the layout the speech
was built with and against silero-vad's own code; the joins of segment results on plain
dicts and on real results."""

from __future__ import annotations

import ast
import hashlib
import random
from importlib.metadata import distribution
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pocketsphinx
import pytest

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import decode_audio
from agents.analyzers.speech import (
    SAMPLE_RATE,
    SileroVad,
    speech_spans,
    transcribe,
    voice_activity,
)
from aima_tasks.kernel.analyses.merges import join_speech, join_transcripts
from tests.analyzers.speech_media import (
    sentence_spans,
    speech_video,
    speech_with_pauses,
    spoken,
    write_wav,
)

TICKET = "i would like to buy a ticket to new york city"
TICKET_WORDS = {"like", "buy", "ticket", "new", "york", "city"}
OFFICE = "please call me tomorrow morning at the office"
OFFICE_WORDS = {"please", "call", "tomorrow", "morning", "office"}
COUNTING = "one two three four five six seven eight nine ten"
COUNTING_WORDS = set(COUNTING.split())
PAUSE_S = 1.0
TOLERANCE_S = 0.3
SILERO_ONNX = Path(distribution("silero-vad").locate_file("silero_vad/data/silero_vad.onnx"))


def builtin_context(**fields) -> AnalysisContext:
    vad = LoadedModel(
        name="silero-vad",
        version="6.2.3",
        sha256=hashlib.sha256(SILERO_ONNX.read_bytes()).hexdigest(),
        path=SILERO_ONNX,
    )
    folder = Path(pocketsphinx.get_model_path()) / "en-us"
    asr = LoadedModel(
        name="pocketsphinx-en-us",
        version="5.1.1",
        sha256=hashlib.sha256((folder / "en-us.lm.bin").read_bytes()).hexdigest(),
        path=folder,
    )
    return AnalysisContext(builtin={"silero-vad": vad, "pocketsphinx-en-us": asr}, **fields)


def heard(result: dict, expected: set[str]) -> set[str]:
    return expected & {word["word"] for word in result["words"]}


def assert_words_in_order(result: dict, start_s: float, end_s: float) -> None:
    words = result["words"]
    assert words
    for word in words:
        assert start_s <= word["start_s"] < word["end_s"] <= end_s + 1e-6
        assert 0.0 <= word["confidence"] <= 1.0
        assert word["word"] == word["word"].strip() and "(" not in word["word"]
        assert not word["word"].startswith(("<", "[", "++"))
    for before, after in pairwise(words):
        assert before["end_s"] <= after["start_s"] + 1e-6
    assert result["text"] == " ".join(word["word"] for word in words)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def two_sentences(media) -> Path:
    """pause, OFFICE, pause, COUNTING, pause (PAUSE_S each)."""
    return speech_with_pauses(media / "two.wav", [OFFICE, COUNTING], PAUSE_S)


@pytest.fixture(scope="module")
def two_sentences_heard(two_sentences) -> dict:
    """The transcript of the whole of ``two_sentences``, the reference for its ranges."""
    return transcribe(two_sentences, builtin_context())


# --- transcription --------------------------------------------------------------------


def test_a_spoken_sentence_is_transcribed(media):
    path = spoken(media / "ticket.wav", TICKET)
    result = transcribe(path, builtin_context())
    assert result["model"] == {"name": "pocketsphinx-en-us", "version": "5.1.1"}
    assert result["language"] == "en-us"
    assert len(heard(result, TICKET_WORDS)) >= 4, result["text"]
    assert 2.5 < result["duration_s"] < 4.0
    assert_words_in_order(result, 0.0, result["duration_s"])


@pytest.fixture(scope="module")
def ticket_video(media) -> Path:
    return speech_video(media / "ticket.mp4", TICKET)


def test_the_sound_track_of_a_video_is_transcribed(ticket_video):
    result = transcribe(ticket_video, builtin_context())
    assert len(heard(result, TICKET_WORDS)) >= 4, result["text"]
    assert_words_in_order(result, 0.0, result["duration_s"])
    # "york city" ends the sentence: its words come last, in the last second of speech.
    assert result["words"][-1]["word"] in {"york", "city"}
    assert result["words"][-1]["end_s"] > result["duration_s"] - 1.0


def test_a_range_of_a_video_is_analysed_in_media_time(ticket_video):
    whole = transcribe(ticket_video, builtin_context())
    start = 1.0  # "i would like" is before
    later = transcribe(ticket_video, builtin_context(start_s=start))
    assert later["duration_s"] == pytest.approx(whole["duration_s"] - start, abs=0.002)
    assert_words_in_order(later, start, whole["duration_s"])
    assert not {"would", "like"} & {word["word"] for word in later["words"]}
    assert_same_times(later, whole, {"york", "city"}, at_least=2)
    activity = voice_activity(ticket_video, builtin_context(start_s=start, end_s=2.0))
    assert activity["duration_s"] == pytest.approx(1.0, abs=0.002)
    assert activity["segments"] == [{"start_s": start, "end_s": 2.0}]  # speaking throughout


def test_words_are_timed_where_their_sentence_is(two_sentences, two_sentences_heard):
    office, counting = sentence_spans(two_sentences)
    result = two_sentences_heard
    assert len(heard(result, OFFICE_WORDS)) >= 3, result["text"]
    assert len(heard(result, COUNTING_WORDS)) >= 7, result["text"]
    assert_words_in_order(result, 0.0, result["duration_s"])

    def within(word: dict, span: tuple[float, float]) -> bool:
        start, end = span[0] - TOLERANCE_S, span[1] + TOLERANCE_S
        return start <= word["start_s"] and word["end_s"] <= end

    for word in result["words"]:  # nothing heard in the pauses, each word in its sentence
        assert within(word, office) or within(word, counting), word
        if word["word"] in OFFICE_WORDS:
            assert within(word, office), word
        if word["word"] in COUNTING_WORDS:
            assert within(word, counting), word
    numbers = [w["start_s"] for w in result["words"] if w["word"] in COUNTING_WORDS]
    assert numbers == sorted(numbers) and numbers[0] < numbers[-1] - 2.0


def test_a_range_is_transcribed_alone_in_media_time(two_sentences, two_sentences_heard):
    office, counting = sentence_spans(two_sentences)
    start = (office[1] + counting[0]) / 2  # in the pause between the sentences
    result = transcribe(two_sentences, builtin_context(start_s=start, end_s=counting[1] + 0.5))
    assert not heard(result, OFFICE_WORDS)
    assert len(heard(result, COUNTING_WORDS)) >= 7, result["text"]
    assert result["duration_s"] == pytest.approx(counting[1] + 0.5 - start, abs=0.002)
    assert_words_in_order(result, counting[0] - TOLERANCE_S, counting[1] + TOLERANCE_S)
    # The same words at the same media times as in a pass over the whole file (which
    # may hear a word or two differently: its utterance starts a few ms apart).
    assert_same_times(result, two_sentences_heard, COUNTING_WORDS, at_least=6)


def test_silence_has_no_words_and_no_speech(media):
    path = write_wav(media / "silence.wav", np.zeros(2 * 22_050, dtype=np.int16), 22_050)
    result = transcribe(path, builtin_context())
    assert (result["text"], result["words"]) == ("", [])
    assert result["duration_s"] == pytest.approx(2.0, abs=0.001)
    activity = voice_activity(path, builtin_context())
    assert (activity["segments"], activity["speech_s"], activity["speech_share"]) == ([], 0, 0)
    assert activity["duration_s"] == pytest.approx(2.0, abs=0.001)


# --- voice activity -------------------------------------------------------------------


def test_speech_is_found_where_the_sentences_are(two_sentences):
    truth = sentence_spans(two_sentences)
    result = voice_activity(two_sentences, builtin_context())
    assert result["model"] == {"name": "silero-vad", "version": "6.2.3"}
    assert result["threshold"] == 0.5
    found = [(s["start_s"], s["end_s"]) for s in result["segments"]]
    assert len(found) == len(truth), found
    for (start, end), (true_start, true_end) in zip(found, truth, strict=True):
        assert start == pytest.approx(true_start, abs=TOLERANCE_S)
        assert end == pytest.approx(true_end, abs=TOLERANCE_S)
    spoken_s = sum(end - start for start, end in truth)
    assert result["speech_s"] == pytest.approx(spoken_s, abs=2 * TOLERANCE_S)
    assert result["duration_s"] == pytest.approx(spoken_s + 3 * PAUSE_S, abs=0.002)
    assert result["speech_share"] == pytest.approx(
        result["speech_s"] / result["duration_s"], abs=1e-3
    )


def test_a_range_gives_the_same_segments_in_media_time(two_sentences):
    office, counting = sentence_spans(two_sentences)
    whole = voice_activity(two_sentences, builtin_context())["segments"]
    start = (office[1] + counting[0]) / 2
    result = voice_activity(two_sentences, builtin_context(start_s=start))
    [segment] = result["segments"]
    assert segment["start_s"] == pytest.approx(whole[1]["start_s"], abs=0.07)
    assert segment["end_s"] == pytest.approx(whole[1]["end_s"], abs=0.07)
    cut = voice_activity(two_sentences, builtin_context(end_s=2.0))
    [early] = cut["segments"]  # the first sentence, cut off where the range ends
    assert early["start_s"] == pytest.approx(whole[0]["start_s"], abs=0.07)
    assert early["end_s"] == 2.0 and cut["duration_s"] == 2.0


def test_probabilities_match_silero_s_sequence_export(two_sentences):
    """SileroVad runs the streaming model window by window; silero-vad also ships the same
    network exported for whole blocks of windows, said to be bit-exact. Fed in two calls,
    our windows must carry context and state across the cut as the wrapper does."""
    samples = decode_audio(two_sentences, rate=SAMPLE_RATE).samples[0]
    vad = SileroVad(SILERO_ONNX)
    cut = 512 * 100
    mine = np.concatenate([vad.probabilities(samples[:cut]), vad.probabilities(samples[cut:])])

    frame_blocks = from_silero_source("sequence_vad.py", "frame_blocks")
    export = SILERO_ONNX.with_name("silero_vad_16k_sequence.onnx")
    session = ort.InferenceSession(str(export), providers=["CPUExecutionProvider"])
    hidden = cell = np.zeros((1, 1, 128), dtype=np.float32)
    theirs = []
    for block in frame_blocks(samples, 512, 64, 64):
        probs, hidden, cell = session.run(
            ["speech_probs", "hn", "cn"], {"input": block, "h": hidden, "c": cell}
        )
        theirs.append(probs.reshape(-1))
    assert len(mine) == -(-len(samples) // 512)
    np.testing.assert_allclose(mine, np.concatenate(theirs), atol=1e-5)
    assert mine.max() > 0.9 and mine[:20].max() < 0.1  # speech, and the leading pause


def test_the_decision_rule_is_silero_s_own():
    """speech_spans against get_speech_timestamps_from_probs of the installed silero-vad."""
    reference = from_silero_source("utils_vad.py", "get_speech_timestamps_from_probs")
    rng = random.Random(7)
    for _ in range(200):
        probs, level = [], rng.random()
        for _ in range(rng.randrange(0, 400)):
            if rng.random() < 0.08:
                level = rng.random()  # runs of speech and silence, with jitter
            probs.append(min(1.0, max(0.0, level + rng.uniform(-0.2, 0.2))))
        n_samples = len(probs) * 512 - rng.randrange(0, 512) if probs else 0
        spans = reference(probs, audio_length_samples=n_samples)
        expected = [(span["start"], span["end"]) for span in spans]
        assert speech_spans(probs, n_samples) == expected


def from_silero_source(module: str, name: str):
    """A function of the installed silero-vad, compiled from its source alone: its modules
    import torch at the top, which the agent does not have."""
    source = Path(distribution("silero-vad").locate_file(f"silero_vad/{module}")).read_text()
    [function] = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    namespace: dict = {"List": list, "np": np}
    exec(compile(ast.Module([function], type_ignores=[]), module, "exec"), namespace)
    return namespace[name]


# --- joining segment results ----------------------------------------------------------


def test_halves_join_into_the_whole(two_sentences):
    office, _ = sentence_spans(two_sentences)
    middle = (office[0] + office[1]) / 2  # through the first sentence
    whole = voice_activity(two_sentences, builtin_context())
    parts = [
        voice_activity(two_sentences, builtin_context(end_s=middle)),
        voice_activity(two_sentences, builtin_context(start_s=middle)),
    ]
    joined = join_speech(parts)
    assert len(joined["segments"]) == len(whole["segments"]) == 2
    for mine, theirs in zip(joined["segments"], whole["segments"], strict=True):
        assert mine["start_s"] == pytest.approx(theirs["start_s"], abs=0.1)
        assert mine["end_s"] == pytest.approx(theirs["end_s"], abs=0.1)
    assert joined["duration_s"] == pytest.approx(whole["duration_s"], abs=0.002)
    assert joined["speech_s"] == pytest.approx(whole["speech_s"], abs=0.15)


def vad_part(segments: list[tuple[float, float]], duration: float) -> dict:
    speech = sum(end - start for start, end in segments)
    return {
        "model": {"name": "silero-vad", "version": "6.2.3"},
        "threshold": 0.5,
        "segments": [{"start_s": start, "end_s": end} for start, end in segments],
        "speech_s": speech,
        "speech_share": speech / duration,
        "duration_s": duration,
    }


def test_join_speech_mends_a_segment_cut_by_the_boundary():
    joined = join_speech(
        [
            vad_part([(1.0, 2.0), (8.5, 10.0)], 10.0),
            vad_part([(10.05, 11.0), (15.0, 16.0)], 10.0),
            vad_part([(20.5, 21.0)], 5.0),  # 20.0 -> 20.5: a real pause, kept
        ]
    )
    assert [(s["start_s"], s["end_s"]) for s in joined["segments"]] == [
        (1.0, 2.0),
        (8.5, 11.0),
        (15.0, 16.0),
        (20.5, 21.0),
    ]
    assert joined["speech_s"] == pytest.approx(5.0)
    assert joined["duration_s"] == pytest.approx(25.0)
    assert joined["speech_share"] == pytest.approx(0.2)
    assert joined["model"] == {"name": "silero-vad", "version": "6.2.3"}


def test_join_speech_with_empty_parts_and_nothing_to_join():
    joined = join_speech([vad_part([], 10.0), vad_part([(10.0, 12.0)], 10.0), vad_part([], 5.0)])
    assert joined["segments"] == [{"start_s": 10.0, "end_s": 12.0}]
    assert joined["speech_share"] == pytest.approx(2.0 / 25.0, abs=1e-4)
    with pytest.raises(ValueError):
        join_speech([])


def transcript_part(words: list[tuple[str, float, float]], duration: float) -> dict:
    return {
        "model": {"name": "pocketsphinx-en-us", "version": "5.1.1"},
        "language": "en-us",
        "text": " ".join(word for word, _, _ in words),
        "words": [
            {"word": word, "start_s": start, "end_s": end, "confidence": 0.9}
            for word, start, end in words
        ],
        "duration_s": duration,
    }


def test_join_transcripts_concatenates_in_order():
    joined = join_transcripts(
        [
            transcript_part([("hello", 0.5, 0.9), ("there", 1.0, 1.4)], 30.0),
            transcript_part([], 30.0),
            transcript_part([("again", 61.0, 61.5)], 12.5),
        ]
    )
    assert joined["text"] == "hello there again"
    assert [word["word"] for word in joined["words"]] == ["hello", "there", "again"]
    assert joined["words"][-1]["start_s"] == 61.0
    assert joined["duration_s"] == pytest.approx(72.5)
    assert (joined["language"], joined["model"]["name"]) == ("en-us", "pocketsphinx-en-us")
    with pytest.raises(ValueError):
        join_transcripts([])


def test_transcripts_of_two_ranges_join_into_the_whole(two_sentences, two_sentences_heard):
    office, counting = sentence_spans(two_sentences)
    cut = (office[1] + counting[0]) / 2
    first = transcribe(two_sentences, builtin_context(end_s=cut))
    second = transcribe(two_sentences, builtin_context(start_s=cut))
    assert all(word["end_s"] <= cut for word in first["words"])
    assert all(word["start_s"] >= cut for word in second["words"])
    joined = join_transcripts([first, second])
    assert joined["text"] == f"{first['text']} {second['text']}"
    assert len(heard(joined, OFFICE_WORDS)) >= 3 and len(heard(joined, COUNTING_WORDS)) >= 7
    assert_words_in_order(joined, 0.0, joined["duration_s"])
    whole = two_sentences_heard
    assert joined["duration_s"] == pytest.approx(whole["duration_s"], abs=0.002)
    assert_same_times(joined, whole, OFFICE_WORDS | COUNTING_WORDS, at_least=10)


def assert_same_times(result: dict, reference: dict, words: set[str], at_least: int) -> None:
    """Words of ``words`` heard once in both results start at the same media time."""

    def once(found: dict) -> dict[str, float]:
        names = [word["word"] for word in found["words"]]
        return {w["word"]: w["start_s"] for w in found["words"] if names.count(w["word"]) == 1}

    mine, theirs = once(result), once(reference)
    common = words & mine.keys() & theirs.keys()
    assert len(common) >= at_least, (result["text"], reference["text"])
    for word in common:
        assert mine[word] == pytest.approx(theirs[word], abs=0.05), word
