"""Voice activity with the packaged Silero VAD 6 on speech synthesized by espeak-ng,
checked against the layout the speech was built with and against silero-vad's own code;
the join of segment results on plain dicts and on real results. The transcript has its
own tests (test_transcript.py, test_speech_corpus.py)."""

from __future__ import annotations

import ast
import hashlib
import random
from importlib.metadata import distribution
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import decode_audio
from agents.analyzers.speech import (
    SAMPLE_RATE,
    SileroVad,
    speech_spans,
    voice_activity,
)
from agents.samples import write_wav
from aima_tasks.kernel.analyses.merges import join_speech
from tests.analyzers.speech_media import sentence_spans, speech_video, speech_with_pauses

TICKET = "i would like to buy a ticket to new york city"
OFFICE = "please call me tomorrow morning at the office"
COUNTING = "one two three four five six seven eight nine ten"
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
    return AnalysisContext(builtin={"silero-vad": vad}, **fields)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def two_sentences(media) -> Path:
    """pause, OFFICE, pause, COUNTING, pause (PAUSE_S each)."""
    return speech_with_pauses(media / "two.wav", [OFFICE, COUNTING], PAUSE_S)


# --- voice activity -------------------------------------------------------------------


def test_a_range_of_a_video_s_sound_track_is_analysed_in_media_time(media):
    video = speech_video(media / "ticket.mp4", TICKET)
    start = 1.0
    activity = voice_activity(video, builtin_context(start_s=start, end_s=2.0))
    assert activity["duration_s"] == pytest.approx(1.0, abs=0.002)
    assert activity["segments"] == [{"start_s": start, "end_s": 2.0}]  # speaking throughout


def test_silence_has_no_speech(media):
    path = write_wav(media / "silence.wav", np.zeros(2 * 22_050, dtype=np.int16), 22_050)
    activity = voice_activity(path, builtin_context())
    assert (activity["segments"], activity["speech_s"], activity["speech_share"]) == ([], 0, 0)
    assert activity["duration_s"] == pytest.approx(2.0, abs=0.001)


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
