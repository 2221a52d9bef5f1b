"""Where people speak: Silero VAD over the first audio stream (the sound track of a
video) at 16 kHz mono, in one-minute chunks, over the context's media range
[start_s, end_s); times in a result are media times, so the parts of a segmented job
join without shifts (see timeline.py). The transcript (transcript.py) and the speakers
analyses cut their sound into utterances with the same SileroVad and speech_spans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import iter_audio

SAMPLE_RATE = 16_000
VAD_MODEL = "silero-vad"

# get_speech_timestamps' defaults (silero-vad 6): a window is speech from THRESHOLD up,
# and a speech run ends only below NEG_THRESHOLD, so a wavering probability does not
# chop a word. max_speech_duration_s stays infinite, so its cutting branch is left out.
THRESHOLD = 0.5
NEG_THRESHOLD = max(THRESHOLD - 0.15, 0.01)
MIN_SPEECH_MS = 250
MIN_SILENCE_MS = 100
SPEECH_PAD_MS = 30
_WINDOW = 512  # samples the v6 model takes at 16 kHz...
_CONTEXT = 64  # ...after the last 64 samples of the window before (OnnxWrapper does this)
_CHUNK_S = 60.0  # 1875 windows, 2000 endpointer frames: both divide a chunk exactly


def voice_activity(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """Speech segments found by Silero VAD, as silero's get_speech_timestamps finds them."""
    model = ctx.built_in(VAD_MODEL)
    vad = SileroVad(model.path, ctx.device)
    probabilities: list[np.ndarray] = []
    samples = 0
    for chunk in sound_chunks(path, ctx):
        probabilities.append(vad.probabilities(chunk))
        samples += len(chunk)
    probs = np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
    spans = speech_spans(probs.tolist(), samples)
    segments = [
        {"start_s": _media_time(ctx, start), "end_s": _media_time(ctx, end)} for start, end in spans
    ]
    speech = sum(end - start for start, end in spans) / SAMPLE_RATE
    duration = samples / SAMPLE_RATE
    return {
        "model": {"name": model.name, "version": model.version},
        "threshold": THRESHOLD,
        "segments": segments,
        "speech_s": round(speech, 3),
        "speech_share": round(speech / duration, 4) if duration else 0.0,
        "duration_s": round(duration, 3),
    }


class SileroVad:
    """Silero VAD v6 through ONNX Runtime, window by window, as silero's OnnxWrapper runs it:
    each 512-sample window goes in after the previous window's last 64 samples, and the
    recurrent state ([2, 1, 128]) carries on from call to call, across chunks too."""

    def __init__(self, model_path: Path, device: str = "cpu") -> None:
        options = ort.SessionOptions()
        # One thread, as the wrapper does: windows are tiny, and segments run in parallel.
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=providers
        )
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """The speech probability of every 512-sample window; a last short window is padded
        with zeros (get_speech_timestamps does the same)."""
        padded = np.pad(samples.astype(np.float32), (0, -len(samples) % _WINDOW))
        out = np.empty(len(padded) // _WINDOW, dtype=np.float32)
        for index in range(len(out)):
            window = padded[None, index * _WINDOW : (index + 1) * _WINDOW]
            framed = np.concatenate([self._context, window], axis=1)
            prob, self._state = self._session.run(
                None, {"input": framed, "state": self._state, "sr": self._rate}
            )
            self._context = framed[:, -_CONTEXT:]
            out[index] = prob[0, 0]
        return out


def speech_spans(probs: Sequence[float], n_samples: int) -> list[tuple[int, int]]:
    """(start, end) sample offsets of speech: silero's get_speech_timestamps_from_probs with
    its default parameters, line for line (tests/analyzers compares the two)."""
    min_speech = SAMPLE_RATE * MIN_SPEECH_MS / 1000
    min_silence = SAMPLE_RATE * MIN_SILENCE_MS / 1000
    pad = SAMPLE_RATE * SPEECH_PAD_MS / 1000
    spans: list[list[int]] = []
    triggered, start, temp_end = False, 0, 0
    for index, prob in enumerate(probs):
        sample = _WINDOW * index
        if prob >= THRESHOLD and temp_end:
            temp_end = 0  # speech came back before the silence was long enough
        if prob >= THRESHOLD and not triggered:
            triggered, start = True, sample
            continue
        if prob < NEG_THRESHOLD and triggered:
            if not temp_end:
                temp_end = sample
            if sample - temp_end < min_silence:
                continue
            if temp_end - start > min_speech:
                spans.append([start, temp_end])
            triggered, temp_end = False, 0
    if triggered and n_samples - start > min_speech:
        spans.append([start, n_samples])

    # Pad every span; where two are closer than two pads, they meet halfway.
    for index, span in enumerate(spans):
        if index == 0:
            span[0] = int(max(0, span[0] - pad))
        if index != len(spans) - 1:
            following = spans[index + 1]
            gap = following[0] - span[1]
            if gap < 2 * pad:
                span[1] += int(gap // 2)
                following[0] = int(max(0, following[0] - gap // 2))
            else:
                span[1] = int(min(n_samples, span[1] + pad))
                following[0] = int(max(0, following[0] - pad))
        else:
            span[1] = int(min(n_samples, span[1] + pad))
    return [(start, end) for start, end in spans]


def sound_chunks(path: Path, ctx: AnalysisContext) -> Iterator[np.ndarray]:
    """The context's media range as 16 kHz mono samples, a minute at a time."""
    for chunk in iter_audio(
        path, rate=SAMPLE_RATE, mono=True, chunk_s=_CHUNK_S, start_s=ctx.start_s, end_s=ctx.end_s
    ):
        yield chunk.samples[0]


def _media_time(ctx: AnalysisContext, sample: int) -> float:
    return round(ctx.start_s + sample / SAMPLE_RATE, 3)
