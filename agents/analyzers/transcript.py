"""The transcript analysis: what is said, in which language, word by word (Whisper base
through faster-whisper / CTranslate2). The result contract is in
aima_tasks/kernel/analyses/transcription.py.

Silero VAD cuts the sound into utterances first: silence never reaches Whisper (which
invents text on it), and each utterance's language is detected on its own, so a German
answer to an English question is German. Consecutive utterances of one language are
then transcribed together, up to Whisper's 30 s window, with word timestamps.

A long job is cut into time segments analysed apart. Each reads MARGIN_S more sound on
both sides of its range, so a word the cut goes through is heard whole, and keeps the
words that start inside [start_s, end_s): every word lands in exactly one segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import decode_audio
from agents.analyzers.speech import SAMPLE_RATE, SileroVad, speech_spans
from aima_tasks.kernel.analyses.builtin import SILERO_VAD
from aima_tasks.kernel.analyses.transcription import WHISPER_BASE

MARGIN_S = 5.0
WINDOW_S = 30.0  # Whisper hears 30 s at a time: a group of utterances stays within
# Pauses shorter than this (a comma, a breath) do not end an utterance; a sentence's
# words stay together for language detection, which is unreliable on a word or two.
JOIN_GAP_S = 0.5
SURE = 0.8  # below this, a language is not taken as detected (see _languages)
BEAM_SIZE = {"cuda": 5, "cpu": 5}  # beam 1 on CPU: ~30 % faster, but it loops on hard German
DOUBTFUL = 0.6  # mean word probability under which an utterance's language is checked
UNLIKELY = 0.05  # ...and found to be another, if alone it gives its group's this little
# Whisper's own hallucination guard: a window it thinks silent and decodes with low
# confidence is dropped.
NO_SPEECH_PROB = 0.6
# Whisper decodes again, hotter, where its text repeats itself or is improbable; three
# tries instead of its six halve the time spent on sound it cannot make out.
TEMPERATURES = (0.0, 0.4, 0.8)
LOG_PROB_FLOOR = -1.0
COMPUTE_TYPES = {
    ("cuda", "fp16"): "float16", ("cuda", "int8"): "int8_float16", ("cuda", "fp32"): "float32",
    ("cpu", "int8"): "int8", ("cpu", "fp32"): "float32",
    ("cpu", "fp16"): "int8",  # CTranslate2 has no fast FP16 on CPU
}


@dataclass(frozen=True)
class _Utterance:
    start: int  # samples into the decoded sound
    end: int
    language: str
    probability: float
    # Its language was detected on its own sound and taken from there: not with its
    # neighbours', nor from the whole range's (then a second opinion may still change it).
    alone: bool


def transcribe(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """Utterances and words with media times, languages and confidences (see the module)."""
    model = ctx.built_in(WHISPER_BASE.name)
    begin = max(0.0, ctx.start_s - MARGIN_S)
    stop = None if ctx.end_s is None else ctx.end_s + MARGIN_S
    sound = decode_audio(path, rate=SAMPLE_RATE, start_s=begin, end_s=stop).samples[0]
    sound_end = begin + len(sound) / SAMPLE_RATE
    end = sound_end if ctx.end_s is None else min(ctx.end_s, sound_end)
    device = _device(ctx)
    whisper = _whisper(str(model.path), device, _compute_type(device, ctx.precision))
    utterances = _utterances(whisper, sound, ctx.built_in(SILERO_VAD.name), ctx.device)
    beam = BEAM_SIZE[device]
    # The margins are heard for their languages and to finish a cut word; an utterance
    # wholly inside one has no word to keep.
    first, last = (ctx.start_s - begin) * SAMPLE_RATE, (end - begin) * SAMPLE_RATE
    inside = [u for u in utterances if u.end > first and u.start < last]
    heard: list[dict[str, Any]] = []
    for group in _groups(inside):
        heard += _transcribe_group(whisper, sound, group, begin, beam)
    kept = [u for u in (_kept(u, ctx.start_s, end) for u in heard) if u["words"]]
    return _result(model, kept, max(0.0, end - ctx.start_s))


def _device(ctx: AnalysisContext) -> str:
    """The context's device where CTranslate2 can use it: the agent's "cuda" says that
    ONNX Runtime can, and a CTranslate2 wheel built without CUDA cannot."""
    return "cuda" if ctx.device == "cuda" and ctranslate2.get_cuda_device_count() else "cpu"


def _compute_type(device: str, precision: str) -> str:
    return COMPUTE_TYPES.get((device, precision), "int8" if device == "cpu" else "float16")


@lru_cache(maxsize=2)
def _whisper(path: str, device: str, compute_type: str) -> WhisperModel:
    """One loaded model per process and setting: loading takes seconds, a segment less."""
    threads = min(len(os.sched_getaffinity(0)), 8)
    return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=threads)


def _utterances(
    whisper: WhisperModel, sound: np.ndarray, vad_model: LoadedModel, device: str
) -> list[_Utterance]:
    """Speech stretches (pauses under JOIN_GAP_S bridged), each with its language."""
    vad = SileroVad(vad_model.path, device)
    spans = speech_spans(vad.probabilities(sound).tolist(), len(sound))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < JOIN_GAP_S * SAMPLE_RATE:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    windows = _windows([(start, end) for start, end in merged])
    if not windows:
        return []
    detected = [whisper.detect_language(audio=sound[w[0][0]:w[-1][1]]) for w in windows]
    prior = _prior(windows, detected)
    found: list[_Utterance] = []
    for window, (_, _, ranked) in zip(windows, detected, strict=True):
        found += _languages(whisper, sound, window, prior, ranked)
    return found


def _prior(windows: list[list[tuple[int, int]]],
           detected: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, float]:
    """The languages of the range as a whole: the windows' language probabilities summed,
    each weighted by its speech, normalised. Whisper base is often unsure of half a
    minute of one voice (0.45-0.75 on espeak-ng German) yet ranks the language first in
    most windows: an utterance it is unsure of takes this range's language."""
    weights: dict[str, float] = {}
    for window, (_, _, ranked) in zip(windows, detected, strict=True):
        speech = sum(end - start for start, end in window)
        for language, probability in ranked:
            weights[language] = weights.get(language, 0.0) + speech * probability
    total = sum(weights.values()) or 1.0
    return {language: weight / total for language, weight in weights.items()}


def _windows(spans: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Consecutive spans packed into windows of at most WINDOW_S (a longer span alone)."""
    windows: list[list[tuple[int, int]]] = []
    for span in spans:
        if windows and span[1] - windows[-1][0][0] <= WINDOW_S * SAMPLE_RATE:
            windows[-1].append(span)
        else:
            windows.append([span])
    return windows


def _languages(
    whisper: WhisperModel, sound: np.ndarray, spans: list[tuple[int, int]],
    prior: dict[str, float], ranked: list[tuple[str, float]] | None = None,
) -> list[_Utterance]:
    """The language of the spans, detected over all of them together: Whisper base names
    the language of a short sentence far less reliably than that of half a minute.

    Where it is unsure (two languages spoken, perhaps), each half is detected on its
    own; a single utterance it is still unsure of takes the language of the whole range
    (``prior``), as one hard sentence in a German talk is more likely German than Thai.
    """
    if ranked is None:
        ranked = whisper.detect_language(audio=sound[spans[0][0]:spans[-1][1]])[2]
    language, probability = max(ranked, key=lambda pair: pair[1])
    found = (language, round(float(probability), 4))
    own = len(spans) == 1
    if found[1] < SURE:
        if len(spans) > 1:
            middle = len(spans) // 2
            return (_languages(whisper, sound, spans[:middle], prior)
                    + _languages(whisper, sound, spans[middle:], prior))
        language = max(prior, key=prior.__getitem__)
        found, own = (language, round(prior[language], 4)), False
    return [_Utterance(start, end, *found, own) for start, end in spans]


def _groups(utterances: list[_Utterance]) -> list[list[_Utterance]]:
    """Runs of consecutive utterances of one language, each spanning at most WINDOW_S
    (a longer utterance stays alone: faster-whisper walks through it window by window)."""
    groups: list[list[_Utterance]] = []
    for utterance in utterances:
        last = groups[-1] if groups else None
        if (last and last[-1].language == utterance.language
                and utterance.end - last[0].start <= WINDOW_S * SAMPLE_RATE):
            last.append(utterance)
        else:
            groups.append([utterance])
    return groups


def _transcribe_group(
    whisper: WhisperModel, sound: np.ndarray, group: list[_Utterance], begin: float, beam: int
) -> list[dict[str, Any]]:
    """The group's utterances with their words, in media time. An utterance heard with
    little confidence may be in another language than the neighbours it was detected
    with, or the range's language it took: it is detected alone, and heard again if that
    rules its language out (a German sentence in an English talk)."""
    words = _words(whisper, sound, group[0].start, group[-1].end, group[0].language, begin, beam)
    utterances = [{"start_s": begin + u.start / SAMPLE_RATE, "end_s": begin + u.end / SAMPLE_RATE,
                   "language": u.language, "language_probability": u.probability, "words": []}
                  for u in group]
    for word in words:  # each word to the utterance nearest its middle
        middle = (word["start_s"] + word["end_s"]) / 2
        min(utterances, key=lambda u: _distance(middle, u))["words"].append(word)
    for utterance, span in zip(utterances, group, strict=True):
        if not span.alone and _confidence(utterance["words"]) < DOUBTFUL:
            _second_opinion(whisper, sound, span, utterance, begin, beam)
    return utterances


def _second_opinion(whisper: WhisperModel, sound: np.ndarray, span: _Utterance,
                    utterance: dict[str, Any], begin: float, beam: int) -> None:
    """Alone, a short utterance's language is guessed poorly (the top guess is often
    wrong), but a language it gives almost no chance is not the one spoken."""
    language, probability, ranked = whisper.detect_language(audio=sound[span.start:span.end])
    if language == span.language or dict(ranked).get(span.language, 0.0) >= UNLIKELY:
        return
    utterance.update(language=language, language_probability=round(float(probability), 4),
                     words=_words(whisper, sound, span.start, span.end, language, begin, beam))


def _words(whisper: WhisperModel, sound: np.ndarray, start: int, end: int, language: str,
           begin: float, beam: int) -> list[dict[str, Any]]:
    """Whisper's words of sound[start:end] in ``language``, in media time."""
    segments, _ = whisper.transcribe(
        sound[start:end], language=language, beam_size=beam, word_timestamps=True,
        condition_on_previous_text=False, vad_filter=False, temperature=TEMPERATURES,
        no_speech_threshold=NO_SPEECH_PROB, log_prob_threshold=LOG_PROB_FLOOR)
    offset = begin + start / SAMPLE_RATE
    return [
        {"word": word.word.strip(), "start_s": round(offset + float(word.start), 3),
         "end_s": round(offset + float(word.end), 3),
         "confidence": round(float(word.probability), 4), "language": language}
        for segment in segments for word in segment.words or () if word.word.strip()
    ]


def _confidence(words: list[dict[str, Any]]) -> float:
    return sum(w["confidence"] for w in words) / len(words) if words else 0.0


def _distance(time_s: float, utterance: dict[str, Any]) -> float:
    return max(utterance["start_s"] - time_s, time_s - utterance["end_s"], 0.0)


def _kept(utterance: dict[str, Any], start_s: float, end_s: float) -> dict[str, Any]:
    """The utterance with only the words that start in [start_s, end_s)."""
    words = [w for w in utterance["words"] if start_s <= w["start_s"] < end_s]
    return {**utterance, "words": words}


def _result(model: LoadedModel, utterances: list[dict[str, Any]], duration: float
            ) -> dict[str, Any]:
    languages: dict[str, float] = {}
    listed = []
    for utterance in utterances:
        words = utterance["words"]
        start, end = words[0]["start_s"], max(w["end_s"] for w in words)
        languages[utterance["language"]] = languages.get(utterance["language"], 0.0) + end - start
        listed.append({"start_s": start, "end_s": end, "language": utterance["language"],
                       "language_probability": utterance["language_probability"],
                       "text": " ".join(w["word"] for w in words)})
    return {
        "model": {"name": model.name, "version": model.version},
        "language": max(languages, key=languages.__getitem__) if languages else None,
        "languages": {language: round(s, 3) for language, s in languages.items()},
        "utterances": listed,
        "words": [w for u in utterances for w in u["words"]],
        "text": " ".join(u["text"] for u in listed),
        "duration_s": round(duration, 3),
    }
