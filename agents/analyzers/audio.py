"""Sound analyses: loudness per ITU-R BS.1770-4, and silent segments.

Both read the first audio stream (the sound track of a video) resampled to 48 kHz, in
one-minute chunks, so memory stays flat however long the file is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import ANALYSIS_RATE, iter_audio
from agents.analyzers.iir import FilterState, lfilter

# BS.1770-4: 400 ms gating blocks overlapping by 75 %, i.e. a new block every 100 ms.
_STEP_S = 0.1
_STEPS_PER_BLOCK = 4
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_LOUDNESS_OFFSET = -0.691
_MAX_CURVE_POINTS = 3600

SILENCE_THRESHOLD_DBFS = -40.0
MIN_SILENCE_S = 0.3
_SILENCE_FRAME_S = 0.02
_MAX_SEGMENTS = 10_000


@dataclass(frozen=True)
class Biquad:
    b: tuple[float, float, float]
    a: tuple[float, float, float]


@cache
def k_weighting(rate: int) -> tuple[Biquad, Biquad]:
    """The two K-weighting stages (high shelf, then RLB high-pass) designed for ``rate``.

    The analogue prototypes fitted to the 48 kHz coefficients of BS.1770 (as in
    libebur128), bilinear-transformed to the given rate; at 48 kHz they reproduce the
    standard's table to 1e-8.
    """
    gain_db, shelf_q, shelf_hz = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = math.tan(math.pi * shelf_hz / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / shelf_q + k * k
    shelf = Biquad(
        b=(
            (vh + vb * k / shelf_q + k * k) / a0,
            2 * (k * k - vh) / a0,
            (vh - vb * k / shelf_q + k * k) / a0,
        ),
        a=(1.0, 2 * (k * k - 1) / a0, (1 - k / shelf_q + k * k) / a0),
    )
    pass_q, pass_hz = 0.5003270373238773, 38.13547087602444
    k = math.tan(math.pi * pass_hz / rate)
    a0 = 1 + k / pass_q + k * k
    high_pass = Biquad(
        b=(1.0, -2.0, 1.0),
        a=(1.0, 2 * (k * k - 1) / a0, (1 - k / pass_q + k * k) / a0),
    )
    return shelf, high_pass


def k_filter(
    samples: np.ndarray, rate: int, states: tuple[FilterState, FilterState] | None = None
) -> tuple[np.ndarray, tuple[FilterState, FilterState]]:
    """K-weighted samples, and the filter states to continue with the next chunk.

    Two biquad passes rather than one fourth-order filter: the high-pass has two nearly
    equal poles close to 1, which a single fourth-order recursion carries poorly.
    """
    shelf, high_pass = k_weighting(rate)
    first, second = states if states is not None else (None, None)
    shelved, first = lfilter(np.array(shelf.b), np.array(shelf.a), samples, first)
    weighted, second = lfilter(np.array(high_pass.b), np.array(high_pass.a), shelved, second)
    return weighted, (first, second)


def _channel_weight(name: str) -> float:
    """BS.1770 channel weights: 1.41 for surrounds, none for the LFE, 1.0 otherwise."""
    if name.startswith("LFE"):
        return 0.0
    if name in {"SL", "SR", "BL", "BR", "BC", "SDL", "SDR"}:
        return 1.41
    return 1.0


def _lufs(power: float | np.ndarray) -> Any:
    with np.errstate(divide="ignore"):
        return _LOUDNESS_OFFSET + 10 * np.log10(power)


def _dbfs(amplitude: float) -> float | None:
    return round(20 * math.log10(amplitude), 2) if amplitude > 0 else None


def _finite(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None


def loudness(path: Path, _ctx: AnalysisContext | None = None) -> dict[str, Any]:
    """Integrated loudness (LUFS), sample peak, RMS and a once-a-second momentary curve."""
    rate = ANALYSIS_RATE
    step = round(_STEP_S * rate)
    states: list[tuple[FilterState, FilterState] | None] = []
    weights: np.ndarray | None = None
    step_energy: list[np.ndarray] = []  # weighted K-filtered energy per 100 ms step
    peak, square_sum, samples, channel_count = 0.0, 0.0, 0, 0
    for chunk in iter_audio(path, rate=rate, mono=False):
        data = chunk.samples
        if weights is None:
            weights = np.array([_channel_weight(name) for name in chunk.channels])
            channel_count = data.shape[0]
            states = [None] * channel_count
        if data.shape[1] == 0:
            continue
        peak = max(peak, float(np.abs(data).max()))
        square_sum += float(np.square(data, dtype=np.float64).sum())
        samples += data.shape[1]
        whole = data.shape[1] // step * step  # a last partial 100 ms step cannot fill a block
        energy = np.zeros(whole // step)
        for channel in range(channel_count):
            filtered, states[channel] = k_filter(data[channel], rate, states[channel])
            if weights[channel] and whole:
                squares = np.square(filtered[:whole]).reshape(-1, step).sum(axis=1)
                energy += weights[channel] * squares
        step_energy.append(energy)

    steps = np.concatenate(step_energy) if step_energy else np.zeros(0)
    blocks = _block_power(steps, step)
    rms = math.sqrt(square_sum / (samples * channel_count)) if samples else 0.0
    return {
        "integrated_lufs": _integrated(blocks),
        "sample_peak_dbfs": _dbfs(peak),
        "rms_dbfs": _dbfs(rms),
        "momentary": _momentary_curve(blocks),
        "duration_s": round(samples / rate, 3),
        "channels": channel_count,
        "analysis_rate": rate,
    }


def _block_power(steps: np.ndarray, step: int) -> np.ndarray:
    """Mean weighted power of every 400 ms block (block j covers steps j..j+3)."""
    if len(steps) < _STEPS_PER_BLOCK:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    sums = cumulative[_STEPS_PER_BLOCK:] - cumulative[:-_STEPS_PER_BLOCK]
    return np.maximum(sums, 0.0) / (step * _STEPS_PER_BLOCK)


def _integrated(blocks: np.ndarray) -> float | None:
    loud = blocks[_lufs(blocks) > _ABSOLUTE_GATE_LUFS]
    if not len(loud):
        return None  # silence, or shorter than one block
    relative_gate = _lufs(loud.mean()) + _RELATIVE_GATE_LU
    kept = loud[_lufs(loud) > relative_gate]
    return _finite(_lufs(kept.mean()))


def _momentary_curve(blocks: np.ndarray) -> list[dict[str, float | None]]:
    """Momentary loudness (the 400 ms ending at t) at every whole second t.

    Long files are sampled every few seconds so the curve has at most 3600 points.
    """
    steps_per_second = round(1 / _STEP_S)
    seconds = (len(blocks) + _STEPS_PER_BLOCK - 1) // steps_per_second
    stride = max(1, math.ceil(seconds / _MAX_CURVE_POINTS))
    curve = []
    for second in range(stride, seconds + 1, stride):
        index = second * steps_per_second - _STEPS_PER_BLOCK
        curve.append({"t": float(second), "lufs": _finite(_lufs(blocks[index]))})
    return curve


def silence(path: Path, _ctx: AnalysisContext | None = None) -> dict[str, Any]:
    """Runs of 20 ms frames below -40 dBFS RMS lasting at least 0.3 s."""
    rate = ANALYSIS_RATE
    frame = round(_SILENCE_FRAME_S * rate)
    threshold_power = 10 ** (SILENCE_THRESHOLD_DBFS / 10)
    quiet: list[np.ndarray] = []
    samples = 0
    for chunk in iter_audio(path, rate=rate, mono=True):
        mono = chunk.samples[0].astype(np.float64)
        samples += len(mono)
        whole = len(mono) // frame * frame  # chunks hold whole frames but for the last
        power = np.square(mono[:whole]).reshape(-1, frame).mean(axis=1)
        if whole < len(mono):
            power = np.append(power, np.square(mono[whole:]).mean())
        quiet.append(power < threshold_power)
    flags = np.concatenate(quiet) if quiet else np.zeros(0, dtype=bool)
    duration = samples / rate
    spans = _runs(flags, frame / rate, duration)
    segments = [(start, end) for start, end in spans if end - start >= MIN_SILENCE_S - 1e-9]
    silent = sum(end - start for start, end in segments)
    silent_share = silent / duration if duration else 0.0
    return {
        "threshold_dbfs": SILENCE_THRESHOLD_DBFS,
        "min_silence_s": MIN_SILENCE_S,
        "segments": [
            {"start_s": round(start, 3), "end_s": round(end, 3)}
            for start, end in segments[:_MAX_SEGMENTS]
        ],
        "segment_count": len(segments),
        "silent_share": round(silent_share, 4),
        "sound_share": round(1 - silent_share, 4) if duration else 0.0,
        "duration_s": round(duration, 3),
    }


def _runs(flags: np.ndarray, frame_s: float, duration: float) -> list[tuple[float, float]]:
    """(start, end) in seconds of every run of True flags."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [
        (start * frame_s, min(end * frame_s, duration))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
