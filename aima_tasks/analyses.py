"""The catalogue of analyses: what each one needs and which media it applies to.

Plain data shared by the control plane (validation, placement) and the agents
(which implement each name in ``agents.analyzers``). No Django, no Celery.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


def cuda_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


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


ANALYSES: dict[str, AnalysisSpec] = {
    spec.name: spec
    for spec in (
        AnalysisSpec(
            "shots",
            frozenset({MediaType.VIDEO}),
            "Shot boundaries (hard cuts) and one keyframe per shot.",
            reference_s_per_unit=0.02,
        ),
        AnalysisSpec(
            "phash",
            frozenset({MediaType.IMAGE}),
            "Perceptual hashes (DCT pHash and dHash) for near-duplicate search.",
            reference_s_per_unit=0.05,
        ),
        AnalysisSpec(
            "colours",
            frozenset({MediaType.IMAGE}),
            "Dominant colours with their share of the picture.",
            reference_s_per_unit=0.2,
        ),
        AnalysisSpec(
            "loudness",
            frozenset({MediaType.AUDIO, MediaType.VIDEO}),
            "Integrated loudness (ITU-R BS.1770, LUFS), sample peak and a per-second "
            "loudness curve.",
            reference_s_per_unit=0.004,
            needs_audio_track=True,
        ),
        AnalysisSpec(
            "silence",
            frozenset({MediaType.AUDIO, MediaType.VIDEO}),
            "Silent segments (below -40 dBFS for at least 0.3 s) and the speech/sound share.",
            reference_s_per_unit=0.003,
            needs_audio_track=True,
        ),
    )
}


class UnknownAnalysis(ValueError):
    """A requested analysis name that the catalogue does not hold."""


def check_names(names: list[str]) -> list[str]:
    """Return the names de-duplicated in order; raise on an unknown one."""
    unknown = [name for name in names if name not in ANALYSES]
    if unknown:
        raise UnknownAnalysis(
            f"unknown analysis {', '.join(sorted(set(unknown)))}; "
            f"choose from {', '.join(sorted(ANALYSES))}"
        )
    return list(dict.fromkeys(names))


def applicable(media_type: MediaType, has_audio: bool) -> list[str]:
    """Every analysis that can run on media of this type, in catalogue order."""
    return [
        spec.name
        for spec in ANALYSES.values()
        if media_type in spec.media_types and (has_audio or not spec.needs_audio_track)
    ]


def vram_need_gb(media_type: MediaType) -> float:
    return MEDIA_VRAM_GB[media_type]
