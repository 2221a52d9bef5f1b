"""Speech analyses: where people speak (Silero VAD) and what they say (PocketSphinx).

Both read the first audio stream (the sound track of a video) at 16 kHz mono, in
one-minute chunks, over the context's media range [start_s, end_s); times in a result
are media times, so the parts of a segmented job join without shifts (see timeline.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pocketsphinx import Config, Decoder, Endpointer

from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.analyzers.decode import iter_audio

SAMPLE_RATE = 16_000
VAD_MODEL = "silero-vad"
ASR_MODEL = "pocketsphinx-en-us"

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

# Utterances are decoded whole (batch cepstral mean normalisation recognises far better
# than the live estimate); a monologue without a pause is cut here to bound memory.
MAX_UTTERANCE_S = 20.0
_ALTERNATE = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation


def voice_activity(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """Speech segments found by Silero VAD, as silero's get_speech_timestamps finds them."""
    model = _builtin(ctx, VAD_MODEL)
    vad = SileroVad(model.path, ctx.device)
    probabilities: list[np.ndarray] = []
    samples = 0
    for chunk in _chunks(path, ctx):
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


def transcribe(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """US-English words with their times and posterior probabilities, from PocketSphinx.

    The stream is cut into utterances at the pauses pocketsphinx's own endpointer
    hears; the silence between them is never decoded.
    """
    model = _builtin(ctx, ASR_MODEL)
    decoder = _decoder(model)
    frame_rate = int(decoder.config["frate"])
    cutter = _UtteranceCutter()
    words: list[dict[str, Any]] = []
    samples = 0
    for chunk in _chunks(path, ctx):
        samples += len(chunk)
        for offset, pcm in cutter.feed(_int16(chunk)):
            words += _decode(decoder, pcm, ctx.start_s + offset, frame_rate)
    for offset, pcm in cutter.finish():
        words += _decode(decoder, pcm, ctx.start_s + offset, frame_rate)
    end = ctx.start_s + samples / SAMPLE_RATE
    for word in words:  # the last frame may reach a few ms past the last sample
        word["end_s"] = min(word["end_s"], round(end, 3))
    return {
        "model": {"name": model.name, "version": model.version},
        "language": "en-us",
        "text": " ".join(word["word"] for word in words),
        "words": words,
        "duration_s": round(samples / SAMPLE_RATE, 3),
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


class _UtteranceCutter:
    """Cuts a 16 kHz int16 stream into utterances (offset_s from the stream start, PCM)
    with pocketsphinx's endpointer (WebRTC VAD: 0.3 s windows, 90 % agreement)."""

    def __init__(self, max_s: float = MAX_UTTERANCE_S) -> None:
        self._endpointer = Endpointer(sample_rate=SAMPLE_RATE)
        self._frame = self._endpointer.frame_bytes // 2
        self._held = np.zeros(0, dtype=np.int16)  # less than one frame, for the next feed
        self._speech: list[bytes] = []
        self._length = 0  # bytes in _speech
        self._start = 0.0
        self._max_bytes = 2 * round(max_s * SAMPLE_RATE)

    def feed(self, pcm: np.ndarray) -> Iterator[tuple[float, bytes]]:
        data = np.concatenate([self._held, pcm])
        whole = len(data) // self._frame * self._frame
        for begin in range(0, whole, self._frame):
            was_speaking = self._endpointer.in_speech
            speech = self._endpointer.process(data[begin : begin + self._frame].tobytes())
            yield from self._take(speech, was_speaking)
        self._held = data[whole:]

    def finish(self) -> Iterator[tuple[float, bytes]]:
        if self._endpointer.in_speech:
            # end_stream wants at least one sample: a silent one changes nothing.
            rest = self._held.tobytes() or b"\0\0"
            yield from self._take(self._endpointer.end_stream(rest), True)
        if self._speech:
            yield self._cut()

    def _take(self, speech: bytes | None, was_speaking: bool) -> Iterator[tuple[float, bytes]]:
        if speech is None:
            return
        if not was_speaking:
            self._start = self._endpointer.speech_start
        self._speech.append(speech)
        self._length += len(speech)
        if not self._endpointer.in_speech or self._length >= self._max_bytes:
            yield self._cut()

    def _cut(self) -> tuple[float, bytes]:
        utterance = (self._start, b"".join(self._speech))
        self._start += self._length / 2 / SAMPLE_RATE  # where a forced cut carries on
        self._speech, self._length = [], 0
        return utterance


def _decoder(model: LoadedModel) -> Decoder:
    """A decoder for a model folder laid out like pocketsphinx's own en-us one; the
    registry's config may rename the parts ({"hmm": ..., "lm": ..., "dict": ...})."""
    folder = Path(model.path)
    parts = {"hmm": "en-us", "lm": "en-us.lm.bin", "dict": "cmudict-en-us.dict"}
    paths = {key: folder / str(model.config.get(key, name)) for key, name in parts.items()}
    missing = [str(part) for part in paths.values() if not part.exists()]
    if missing:
        raise FileNotFoundError(f"{model.name} lacks {', '.join(missing)}")
    config = Config(**{key: str(part) for key, part in paths.items()}, loglevel="FATAL")
    return Decoder(config)


def _decode(decoder: Decoder, pcm: bytes, offset_s: float, frame_rate: int) -> list[dict[str, Any]]:
    decoder.start_utt()
    decoder.process_raw(pcm, False, True)  # full_utt: normalise over the whole utterance
    decoder.end_utt()
    words = []
    for segment in decoder.seg():
        word = _ALTERNATE.sub("", segment.word)
        if _is_filler(word):
            continue
        words.append(
            {
                "word": word,
                "start_s": round(offset_s + segment.start_frame / frame_rate, 3),
                "end_s": round(offset_s + (segment.end_frame + 1) / frame_rate, 3),
                # The lattice posterior; its log-domain sums overshoot 1 by a hair.
                "confidence": round(min(1.0, float(segment.prob)), 4),
            }
        )
    return words


def _is_filler(word: str) -> bool:
    """<s>, </s>, <sil>, [NOISE], ++LAUGH++ and the like: sounds, not words."""
    return word.startswith(("<", "[", "++")) or word == "(NULL)"


def _chunks(path: Path, ctx: AnalysisContext) -> Iterator[np.ndarray]:
    for chunk in iter_audio(
        path, rate=SAMPLE_RATE, mono=True, chunk_s=_CHUNK_S, start_s=ctx.start_s, end_s=ctx.end_s
    ):
        yield chunk.samples[0]


def _int16(samples: np.ndarray) -> np.ndarray:
    return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def _media_time(ctx: AnalysisContext, sample: int) -> float:
    return round(ctx.start_s + sample / SAMPLE_RATE, 3)


def _builtin(ctx: AnalysisContext, name: str) -> LoadedModel:
    try:
        return ctx.builtin[name]
    except KeyError:
        raise LookupError(f"the built-in model {name!r} was not handed to this analyser") from None
