"""The catalogue of analyses: every plugin of the ``aima.analyzers`` entry-point
group, what each one needs and which media it applies to.

An installed package adds an analysis by declaring, in its packaging::

    [project.entry-points."aima.analyzers"]
    ocr = "my_aima_ocr.spec:OCR"

where ``OCR`` is an :class:`AnalysisSpec` whose ``runner`` names the function
agents call. The control plane and the agents read the same catalogue; only
agents import runners. A plugin that fails to load is logged and listed in
:data:`BROKEN`, and the others keep working.
"""

from __future__ import annotations

import logging

from aima_tasks.kernel import plugins
from aima_tasks.kernel.analysis_spec import (
    MEDIA_VRAM_GB,
    MIN_CUDA,
    AnalysisSpec,
    MediaType,
    ModelFile,
    Precision,
    cuda_tuple,
)

__all__ = ["ANALYSES", "BROKEN", "MEDIA_VRAM_GB", "MIN_CUDA", "AnalysisSpec", "MediaType",
           "ModelFile", "Precision", "applicable", "check_names", "cuda_tuple", "vram_need_gb"]

GROUP = "aima.analyzers"

log = logging.getLogger(__name__)


def load_catalogue() -> tuple[dict[str, AnalysisSpec], dict[str, str]]:
    """(name -> spec, name -> why it could not be loaded), in entry-point name order."""
    found: dict[str, AnalysisSpec] = {}
    broken: dict[str, str] = {}
    for _, point in sorted(plugins.claimed(GROUP).items()):
        try:
            spec = point.load()
        except Exception as exc:
            broken[point.name] = f"{point.value} could not be loaded: {exc}"
            continue
        if not isinstance(spec, AnalysisSpec) or spec.name != point.name:
            broken[point.name] = (f"{point.value} is not an AnalysisSpec named "
                                  f"{point.name!r}")
            continue
        found[spec.name] = spec
    for name, problem in broken.items():
        log.error("analysis plugin %s: %s", name, problem)
    return found, broken


ANALYSES, BROKEN = load_catalogue()


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


def applicable(media_type: MediaType, has_audio: bool, default_only: bool = False) -> list[str]:
    """Every analysis that can run on media of this type, in catalogue order; with
    ``default_only`` only those that run when a job names none."""
    return [
        spec.name
        for spec in ANALYSES.values()
        if media_type in spec.media_types
        and (has_audio or not spec.needs_audio_track)
        and (spec.default_on or not default_only)
    ]


def vram_need_gb(media_type: MediaType) -> float:
    return MEDIA_VRAM_GB[media_type]
