"""Who spoke when: Silero VAD finds speech, 1.5 s windows of it are embedded by the
voice encoder, average-link clustering on cosine distance groups the windows into
speakers (as many as the threshold allows), and runs of one speaker become turns.

The result follows aima_tasks.kernel.analyses.diarization; each speaker carries its
voice centroid so that the control plane can join segments (join_speakers), and an
enrolled voice (ctx.references) close enough to a speaker's centroid names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.analyzers.clustering import cluster
from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import decode_audio
from agents.analyzers.speech import SAMPLE_RATE, SileroVad, sound_chunks, speech_spans
from agents.analyzers.voice import VoiceEncoder, read_enrolment
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses.builtin import SILERO_VAD
from aima_tasks.kernel.analyses.diarization import (
    DISTANCE_THRESHOLD,
    NAME_THRESHOLD,
    VOICE_ENCODER,
)

WINDOW_S = 1.5  # long enough for a stable voice embedding, short enough to place a change
STEP_S = 0.5
# Pauses up to this long inside one speaker's run stay inside the turn.
MAX_PAUSE_S = 1.0
# A word or two ("Yes.", "Guten Morgen,") is too short to found a speaker: its embedding
# strays (0.2-0.3 from its own voice, where 1.5 s windows stay near 0.17); such windows
# join the nearest speaker the longer ones found.
MIN_FOUNDING_S = 1.0
MAX_WINDOWS = 3000  # about 25 minutes of speech at STEP_S


def diarize(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """Speaker turns over [ctx.start_s, ctx.end_s), speakers labelled S1, S2 ... in order
    of first appearance (media times)."""
    vad_model, encoder_model = ctx.built_in(SILERO_VAD.name), ctx.built_in(VOICE_ENCODER.name)
    vad = SileroVad(vad_model.path, ctx.device)
    chunks, probabilities = [], []
    for chunk in sound_chunks(path, ctx):
        chunks.append(chunk)
        probabilities.append(vad.probabilities(chunk))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    probs = np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
    spans = speech_spans(probs.tolist(), len(audio))
    windows = speech_windows(spans)
    encoder = VoiceEncoder(encoder_model.path, ctx.device, batch_size=max(ctx.batch_size, 32))
    embeddings = encoder.embed_utterances([audio[a:b] for a, b, _ in windows])
    labels = speakers_of(embeddings, np.array([end - start for start, end, _ in windows]))
    pieces = speaker_pieces(spans, windows, labels)
    order = _first_appearance(pieces)
    speakers = [_speaker(f"S{rank + 1}", embeddings[labels == group], pieces, group)
                for rank, group in enumerate(order)]
    _name(speakers, [read_enrolment(ref.path) for ref in ctx.references])
    rank = {group: f"S{index + 1}" for index, group in enumerate(order)}
    return {
        "model": {"name": encoder_model.name, "version": encoder_model.version},
        "speakers": speakers,
        "turns": [{"speaker": rank[group], "start_s": _time(ctx, start), "end_s": _time(ctx, end)}
                  for start, end, group in merge_pieces(pieces)],
        "duration_s": round(len(audio) / SAMPLE_RATE, 3),
    }


def voice_of(path: Path, device: str = "cpu") -> np.ndarray:
    """The voice embedding of one speaker's clip (its speech only, as VAD finds it), for
    enrolment: the same encoder and features as diarize, over the whole utterance."""
    models = packaged_models((SILERO_VAD, VOICE_ENCODER))
    vad = SileroVad(models[SILERO_VAD.name].path, device)
    audio = decode_audio(path, rate=SAMPLE_RATE).samples[0]
    spans = speech_spans(vad.probabilities(audio).tolist(), len(audio))
    if not spans:
        raise ValueError(f"{path}: no speech found to enrol")
    speech = np.concatenate([audio[start:end] for start, end in spans])
    encoder = VoiceEncoder(models[VOICE_ENCODER.name].path, device)
    return encoder.embed_utterances([speech])[0]


def speech_windows(spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, span index) sample windows: WINDOW_S long every STEP_S inside each
    speech span, the last one ending with the span; a shorter span is one window."""
    length, step = round(WINDOW_S * SAMPLE_RATE), round(STEP_S * SAMPLE_RATE)
    # Clustering costs the cube of the windows: media analysed whole (not cut into
    # segments) gets sparser windows rather than hours of clustering.
    speech = sum(end - start for start, end in spans)
    step = max(step, speech // MAX_WINDOWS)
    windows = []
    for index, (start, end) in enumerate(spans):
        if end - start <= length:
            windows.append((start, end, index))
            continue
        starts = list(range(start, end - length + 1, step))
        if starts[-1] + length < end:
            starts.append(end - length)
        windows += [(s, s + length, index) for s in starts]
    return windows


def speakers_of(embeddings: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A cluster number per window: windows of MIN_FOUNDING_S and more are clustered,
    the shorter ones join the nearest of those clusters (all are clustered where
    every window is short)."""
    founding = lengths >= MIN_FOUNDING_S * SAMPLE_RATE
    if founding.all() or not founding.any():
        return cluster(embeddings, DISTANCE_THRESHOLD)
    labels = np.empty(len(embeddings), dtype=np.int64)
    labels[founding] = cluster(embeddings[founding], DISTANCE_THRESHOLD)
    groups = np.unique(labels[founding])
    centroids = np.stack([embeddings[founding][labels[founding] == g].mean(axis=0)
                          for g in groups])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    labels[~founding] = groups[np.argmax(embeddings[~founding] @ centroids.T, axis=1)]
    return labels


def speaker_pieces(spans: list[tuple[int, int]], windows: list[tuple[int, int, int]],
                   labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, cluster) pieces of speech: each window owns its span from the midpoint
    with the window before to the midpoint with the one after; a span's first and last
    windows reach its edges, so a span of one speaker is exactly one piece."""
    pieces: list[tuple[int, int, int]] = []
    for index, (span_start, span_end) in enumerate(spans):
        inside = [(w, int(labels[k])) for k, w in enumerate(windows) if w[2] == index]
        centres = [(a + b) // 2 for (a, b, _), _ in inside]
        for k, (_, group) in enumerate(inside):
            start = span_start if k == 0 else (centres[k - 1] + centres[k]) // 2
            end = span_end if k == len(inside) - 1 else (centres[k] + centres[k + 1]) // 2
            if pieces and pieces[-1][2] == group and pieces[-1][1] == start:
                pieces[-1] = (pieces[-1][0], end, group)
            else:
                pieces.append((start, end, group))
    return pieces


def merge_pieces(pieces: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Turns: consecutive pieces of one speaker, across pauses up to MAX_PAUSE_S."""
    turns: list[tuple[int, int, int]] = []
    for start, end, group in pieces:
        if turns and turns[-1][2] == group and start - turns[-1][1] <= MAX_PAUSE_S * SAMPLE_RATE:
            turns[-1] = (turns[-1][0], end, group)
        else:
            turns.append((start, end, group))
    return turns


def _first_appearance(pieces: list[tuple[int, int, int]]) -> list[int]:
    order: list[int] = []
    for _, _, group in pieces:
        if group not in order:
            order.append(group)
    return order


def _speaker(label: str, embeddings: np.ndarray, pieces: list[tuple[int, int, int]],
             group: int) -> dict[str, Any]:
    centroid = embeddings.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    speech = sum(end - start for start, end, g in pieces if g == group) / SAMPLE_RATE
    return {"label": label, "name": None, "speech_s": round(speech, 3),
            "centroid": [round(float(x), 4) for x in centroid]}


def _name(speakers: list[dict[str, Any]], enrolled: list[tuple[str, np.ndarray]]) -> None:
    """Each enrolled voice names the speaker nearest to it, if within NAME_THRESHOLD; of
    two voices near one speaker, the nearer names it."""
    best: dict[int, tuple[float, str]] = {}
    for name, voice in enrolled:
        distances = [1.0 - float(np.dot(voice, s["centroid"])) for s in speakers]
        if not distances:
            return
        nearest = int(np.argmin(distances))
        if distances[nearest] < min(NAME_THRESHOLD, best.get(nearest, (np.inf, ""))[0]):
            best[nearest] = (distances[nearest], name)
    for index, (_, name) in best.items():
        speakers[index]["name"] = name


def _time(ctx: AnalysisContext, sample: int) -> float:
    return round(ctx.start_s + sample / SAMPLE_RATE, 3)
