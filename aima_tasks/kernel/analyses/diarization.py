"""The speakers analysis (who spoke when), declared for the control plane, and the
join of its segments' results: speakers relabelled consistently across segments by
their voice centroids, in pure Python.

Result, media times throughout:
    {"model": {"name", "version"},
     "speakers": [{"label": "S1", "name": None or "enrolled name", "speech_s": float,
                   "centroid": [256 floats]}],
     "turns": [{"speaker": "S1", "start_s", "end_s"}],
     "duration_s": float}
"""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses.sections import Section, Slot
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})


def join_speakers(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One speakers result from those of consecutive segments, in order."""
    raise NotImplementedError  # filled in by the speakers work


def turns(result: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError  # filled in by the report work


SPEAKERS = AnalysisSpec(
    "speakers", AV,
    "Who spoke when: speaker turns from voice embeddings, the number of speakers found "
    "automatically, enrolled voices named.",
    reference_s_per_unit=0.05, needs_audio_track=True, default_on=False,
    runner="agents.analyzers.speakers:diarize",
    merge=join_speakers,
    sections=(Section(Slot.SPEAKERS, ("turns", "speakers"), turns),))
