"""Exact IIR filtering (like scipy.signal.lfilter) in plain numpy, fast on long signals.

A sample-by-sample Python loop would take minutes on an hour of 48 kHz audio. Instead the
signal is cut into blocks of L samples: inside a block the output is a matrix product
(zero-state response: a Toeplitz matrix of the impulse response; plus the response to the
p outputs carried in from the previous block), and the carried state itself follows a
linear recurrence across blocks, solved with a log-depth prefix scan. All of it exact up
to float64 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

_BLOCK = 64


@dataclass(frozen=True)
class FilterState:
    inputs: np.ndarray  # the last q inputs, newest first (q = len(b) - 1)
    outputs: np.ndarray  # the last p outputs, newest first (p = len(a) - 1)


@dataclass(frozen=True)
class _BlockModel:
    toeplitz_t: np.ndarray  # (L, L): zero-state response, transposed for row blocks
    carry_t: np.ndarray  # (p, L): response of one block to each carried-in output
    step_t: np.ndarray  # (p, p): carried-in state -> carried-out state, transposed


def zero_state(b: np.ndarray, a: np.ndarray) -> FilterState:
    return FilterState(np.zeros(len(b) - 1), np.zeros(len(a) - 1))


def lfilter(
    b: np.ndarray, a: np.ndarray, x: np.ndarray, state: FilterState | None = None
) -> tuple[np.ndarray, FilterState]:
    """y[n] = sum b[k] x[n-k] - sum_{k>=1} a[k] y[n-k], with a[0] normalised to 1.

    Returns the output (float64) and the state to pass with the next chunk of the
    same signal, so a long signal can be filtered in pieces with the same result.
    """
    b = np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if a[0] != 1.0:
        b, a = b / a[0], a / a[0]
    state = state or zero_state(b, a)
    n = len(x)
    if n == 0:
        return np.zeros(0), state
    q, p = len(b) - 1, len(a) - 1
    length = max(_BLOCK, p)
    # The moving-average part goes straight into the block buffer the recursion reads.
    buffer = np.zeros(-(-n // length) * length)
    moving = buffer[:n]
    np.multiply(x, b[0], out=moving)
    for k in range(1, q + 1):
        if k < n:
            moving[k:] += b[k] * x[: n - k]
        for j in range(min(k, n)):  # inputs from before this chunk
            moving[j] += b[k] * state.inputs[k - j - 1]
    y = _recursive(a, buffer, length, state.outputs)[:n] if p else moving
    return y, FilterState(_newest(state.inputs, x, q), _newest(state.outputs, y, p))


def _newest(before: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` samples of before+values, newest first."""
    if count == 0:
        return np.zeros(0)
    tail = np.asarray(values[-count:], dtype=np.float64)[::-1]
    if len(tail) < count:
        tail = np.concatenate([tail, before[: count - len(tail)]])
    return tail.copy()


def _recursive(a: np.ndarray, buffer: np.ndarray, length: int, carried: np.ndarray) -> np.ndarray:
    """w[n] = v[n] - sum_{k>=1} a[k] w[n-k] over whole blocks, from the carried outputs."""
    p = len(a) - 1
    model = _block_model(tuple(a.tolist()), length)
    out = buffer.reshape(-1, length) @ model.toeplitz_t  # zero-state response per block

    # State entering block k+1 (last p outputs of block k, newest first) is
    # step(state entering block k) + the zero-state tail of block k.
    tails = out[:, length - 1 - np.arange(p)]
    tails[0] += carried @ model.step_t
    entering = _affine_scan(tails, model.step_t)
    starts = np.vstack([carried[None, :], entering[:-1]])
    out += starts @ model.carry_t
    return out.reshape(-1)


def _affine_scan(tails: np.ndarray, step_t: np.ndarray) -> np.ndarray:
    """r[k] = r[k-1] @ step_t + tails[k] for all k, in log2(len) vectorised passes."""
    result = tails.copy()
    power = step_t.copy()
    shift = 1
    while shift < len(result):
        result[shift:] += result[:-shift] @ power
        power = power @ power
        shift *= 2
    return result


@cache
def _block_model(a: tuple[float, ...], length: int) -> _BlockModel:
    p = len(a) - 1

    def run(excitation: np.ndarray, past: list[float]) -> np.ndarray:
        # Scalar loop, once per filter: the per-block responses it builds are tiny.
        out = np.zeros(length)
        history = list(past)  # newest first
        for n in range(length):
            value = excitation[n] - sum(a[k] * history[k - 1] for k in range(1, p + 1))
            out[n] = value
            history = [value, *history[:-1]]
        return out

    impulse = np.zeros(length)
    impulse[0] = 1.0
    response = run(impulse, [0.0] * p)
    lag = np.arange(length)[:, None] - np.arange(length)[None, :]
    toeplitz = np.where(lag >= 0, response[np.clip(lag, 0, None)], 0.0)

    silence = np.zeros(length)
    carry = np.stack(
        [run(silence, [1.0 if k == m else 0.0 for k in range(p)]) for m in range(p)], axis=1
    )  # (L, p): column m answers a unit output m+1 samples before the block
    step = carry[length - 1 - np.arange(p)]  # (p, p): rows = outputs carried out
    return _BlockModel(toeplitz.T.copy(), carry.T.copy(), step.T.copy())
