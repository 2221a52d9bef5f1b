"""Shot boundaries (hard cuts) and one keyframe per shot.

Every frame is decoded at 64x36. A cut is a frame whose change from the previous one
(colour histogram distance plus mean pixel difference) towers over the changes around
it: an adaptive threshold, so steady motion, noise and slow fades do not fire.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.analyzers.context import AnalysisContext
from agents.analyzers.decode import iter_frames, video_meta
from agents.analyzers.image import dhash_of_array

_THUMB = (64, 36)
_BINS = 4  # per channel: a 64-bin joint RGB histogram
_MIN_SCORE = 0.12  # a cut changes at least this much, whatever its neighbours do
_RATIO = 2.5  # ...and at least this many times the typical change around it
_MARGIN = 0.04  # ...plus this, so near-still scenes need a real jump too
_WINDOW_S = 0.5  # the neighbourhood the typical change is taken from, each side
_MIN_SHOT_S = 0.25  # two cuts closer than this: keep the stronger
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class FrameStats:
    time_s: float
    score: float  # change from the previous frame, 0..1
    dhash: str
    mean_rgb: tuple[int, int, int]


def shots(path: Path, _ctx: AnalysisContext | None = None) -> dict[str, Any]:
    meta = video_meta(path)
    stats = _frame_stats(path)
    fps = meta.fps or _fps_from_times([s.time_s for s in stats])
    cuts = detect_cuts(np.array([s.score for s in stats]), fps)
    duration = meta.duration_s
    if duration is None and stats:
        duration = stats[-1].time_s + (1 / fps if fps else 0.0)
    starts = [0, *cuts] if stats else []
    ends = [*cuts, len(stats)]
    shot_list = []
    for index, (start, stop) in enumerate(zip(starts, ends, strict=False)):
        middle = (start + stop - 1) // 2
        key = stats[middle]
        end_s = stats[stop].time_s if stop < len(stats) else duration
        shot_list.append(
            {
                "index": index,
                "start_s": round(stats[start].time_s, 3),
                "end_s": round(end_s, 3) if end_s is not None else None,
                "start_frame": start,
                "end_frame": stop - 1,
                "keyframe": {
                    "time_s": round(key.time_s, 3),
                    "frame": middle,
                    "dhash": key.dhash,
                    "mean_rgb": list(key.mean_rgb),
                },
            }
        )
    return {
        "shots": shot_list,
        "cut_count": len(cuts),
        "frames_analysed": len(stats),
        "fps": round(fps, 3) if fps else None,
        "duration_s": round(duration, 3) if duration is not None else None,
    }


def _frame_stats(path: Path) -> list[FrameStats]:
    """Per frame: change score, dHash and mean colour; the thumbnails are not kept."""
    stats: list[FrameStats] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for frame in iter_frames(path, *_THUMB, pixel_format="rgb24"):
        rgb = frame.pixels.astype(np.float32)
        grey = rgb @ _LUMA.astype(np.float32)
        histogram = _histogram(frame.pixels)
        score = 0.0
        if previous is not None:
            score = frame_change(previous[0], grey, previous[1], histogram)
        previous = (grey, histogram)
        mean = rgb.reshape(-1, 3).mean(axis=0)
        stats.append(
            FrameStats(
                time_s=frame.time_s,
                score=score,
                dhash=dhash_of_array(grey),
                mean_rgb=(round(float(mean[0])), round(float(mean[1])), round(float(mean[2]))),
            )
        )
    return stats


def _histogram(rgb: np.ndarray) -> np.ndarray:
    levels = (rgb // (256 // _BINS)).astype(np.int64)
    index = (levels[..., 0] * _BINS + levels[..., 1]) * _BINS + levels[..., 2]
    counts = np.bincount(index.ravel(), minlength=_BINS**3).astype(np.float64)
    return counts / counts.sum()


def frame_change(
    grey_a: np.ndarray, grey_b: np.ndarray, hist_a: np.ndarray, hist_b: np.ndarray
) -> float:
    """0..1: half histogram distance (palette change) + half mean pixel difference (layout).

    A box moving over a still scene barely changes the palette; a cut changes both.
    """
    palette = 0.5 * float(np.abs(hist_a - hist_b).sum())
    layout = float(np.abs(grey_a - grey_b).mean()) / 255.0
    return 0.5 * palette + 0.5 * layout


def detect_cuts(scores: np.ndarray, fps: float) -> list[int]:
    """Indices of the frames that open a new shot (never 0)."""
    if len(scores) < 2:
        return []
    window = max(2, round(_WINDOW_S * fps)) if fps else 6
    spacing = max(1, round(_MIN_SHOT_S * fps)) if fps else 3
    # Median change over the window each side, the frame itself and frame 0 left out.
    padded = np.full(len(scores) + 2 * window, np.nan)
    padded[window : window + len(scores)] = scores
    padded[window] = np.nan  # frame 0 has no predecessor: its score means nothing
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1).copy()
    around[:, window] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: lone frames
        typical = np.nan_to_num(np.nanmedian(around, axis=1), nan=0.0)
    threshold = np.maximum(_MIN_SCORE, _RATIO * typical + _MARGIN)
    candidates = np.flatnonzero(scores >= threshold)
    candidates = candidates[candidates > 0].tolist()
    cuts: list[int] = []
    for i in sorted(candidates, key=lambda c: -scores[c]):
        if all(abs(i - kept) >= spacing for kept in cuts):
            cuts.append(i)
    return sorted(cuts)


def _fps_from_times(times: list[float]) -> float:
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])
