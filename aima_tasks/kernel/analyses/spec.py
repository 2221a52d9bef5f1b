"""What an analysis plugin declares: plain data the control plane plans with and the
agents run by. No Django, no Celery, nothing heavy: the control plane imports every
plugin's declaration to validate and place jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from aima_tasks.kernel.analyses.facts import Facts
from aima_tasks.kernel.analyses.sections import Section


class MediaType(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"


# Seed 003 §1.1 / 004 §1.1: the VRAM a GPU must have to take media of each type.
MEDIA_VRAM_GB: dict[MediaType, float] = {
    MediaType.VIDEO: 24.0,
    MediaType.IMAGE: 16.0,
    MediaType.AUDIO: 8.0,
}
MIN_CUDA = "11.8"


# Cached: placement and the replay compare CUDA versions for every GPU and offer.
@lru_cache(maxsize=256)
def cuda_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


@dataclass(frozen=True)
class ModelFile:
    """A model an analyser loads, shipped inside an installed package and pinned by its
    SHA-256 (of the file, or of a folder's files: ``agents.model_cache.sha256_of``)."""

    name: str
    version: str
    sha256: str
    distribution: str  # the installed package that carries it, e.g. "silero-vad"
    path: str  # inside that distribution, e.g. "silero_vad/data/silero_vad.onnx"
    # A model too big for one package, assembled into a folder on first use:
    # (file name in the folder, the (distribution, path) pieces joined in order into it).
    # The pin is then the folder's checksum; ``path`` names the folder for messages.
    assembled: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()


# The results of consecutive segments, in order, joined into one result.
Merge = Callable[[list[dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class AnalysisSpec:
    name: str
    media_types: frozenset[MediaType]
    description: str
    # Seconds per work unit (media second, or image) on the reference GPU
    # (placement.performance); a planning figure until benchmarks and finished
    # jobs say better.
    reference_s_per_unit: float
    needs_audio_track: bool = False
    # Beyond the media type's own need (MEDIA_VRAM_GB, MIN_CUDA).
    min_vram_gb: float = 0.0
    min_cuda: str = MIN_CUDA
    # "module:function" the agent calls with (media path, AnalysisContext); imported
    # only on the agent, so the control plane never loads model code.
    runner: str = ""
    # Built-in model files, verified before every load.
    models: tuple[ModelFile, ...] = ()
    # Registry task whose artifacts (aima_web.registry) may replace the built-in
    # model, e.g. "person-detection"; empty: none can.
    model_task: str = ""
    # Registry task whose active artifacts ALL travel with the analysis as references
    # (enrolled voices), beside whichever model the planner picks; the work unit
    # carries them under ``references_key``. Empty: none.
    reference_task: str = ""
    precisions: tuple[Precision, ...] = (Precision.FP32,)
    # Run when a job names no analyses.
    default_on: bool = True
    # Long media may be cut into time segments analysed in parallel; this joins the
    # segments' results in order. Pure Python: it runs on the control plane, so it
    # must live beside the declaration, never in agent code.
    merge: Merge | None = None
    # What of the result the job report shows in sections of its own (timeline,
    # transcript, speech map); the rest of the result is shown as it is.
    sections: tuple[Section, ...] = ()
    # What of the result the report page shows as labelled lines (facts.Fact); the
    # page shows the results of analyses with neither sections nor facts as raw JSON.
    facts: Facts | None = None

    @property
    def references_key(self) -> str:
        """Where a work unit's ``models`` carries the references: beside the analysis's
        own variants, never among them (the planner picks one of those)."""
        return f"{self.name}:references"

    @property
    def segmentable(self) -> bool:
        return self.merge is not None

    @property
    def builtin_precisions(self) -> tuple[Precision, ...]:
        """What the built-in model runs in: the declared precisions where no registry
        variant can replace it (they are then the built-in's own, e.g. Whisper quantised
        on load), else FP32 (the precisions name the registry variants')."""
        return (Precision.FP32,) if self.model_task else self.precisions
