"""Analyses: what each one declares (spec), the installed ones (catalogue), the ones
AIMA ships (builtin), how segment results join (merges) and what the job report
shows of a result (sections). Declarations only: runners live with the agents.
"""

from aima_tasks.kernel.analyses.catalogue import (
    GROUP,
    Catalogue,
    Needs,
    UnknownAnalysis,
    catalogue,
)
from aima_tasks.kernel.analyses.sections import Section, Slot
from aima_tasks.kernel.analyses.spec import (
    MEDIA_VRAM_GB,
    MIN_CUDA,
    AnalysisSpec,
    MediaType,
    Merge,
    ModelFile,
    Precision,
    cuda_tuple,
)

__all__ = ["GROUP", "MEDIA_VRAM_GB", "MIN_CUDA", "AnalysisSpec", "Catalogue", "MediaType",
           "Merge", "ModelFile", "Needs", "Precision", "Section", "Slot", "UnknownAnalysis",
           "catalogue", "cuda_tuple"]
