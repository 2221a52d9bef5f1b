"""How long an analysis takes on a GPU model.

Three sources, best first: a benchmark profile of the GPU (agents measure it at
registration), the median observed runtime of finished jobs on that GPU model,
and the relative-performance table below applied to the analysis' planning
figure on the reference GPU (``AnalysisSpec.reference_s_per_unit``).

The table: dense FP16 Tensor Core throughput with FP32 accumulate, in TFLOPS,
from NVIDIA's published data sheets and architecture white papers (Hopper,
Ada, Ampere, Volta, Turing; GeForce figures from the Ada/Ampere/Blackwell
white papers' "FP16 Tensor TFLOPS with FP32 Accumulate" rows), divided by the
reference GPU's (RTX 4090: 165.2). Inference of vision and speech models is
mostly tensor-bound, so this ranks cards sensibly; it ignores memory
bandwidth, which is why measured figures replace it as soon as there are any.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.placement.inputs import RuntimeKnowledge

REFERENCE_GPU = "RTX4090"
REFERENCE_TFLOPS = 165.2

# Normalised model name -> dense FP16 tensor TFLOPS (FP32 accumulate).
TENSOR_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100": 989.0,
    "H100PCIE": 756.0,
    "H100NVL": 835.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10": 125.0,
    "A10G": 70.0,
    "A40": 150.0,
    "RTX6000ADA": 364.0,
    "RTXA6000": 154.8,
    "A6000": 154.8,
    "RTXA5000": 111.0,
    "RTXA4000": 76.7,
    "RTX5090": 209.5,
    "RTX4090": 165.2,
    "RTX4080": 97.5,
    "RTX3090": 71.0,
    "RTX3080": 59.5,
    "RTX3060": 25.6,
    "V100": 125.0,
    "T4": 65.0,
}
# A card the table does not know is planned as slow rather than fast.
UNKNOWN_RELATIVE = 0.25

# Loading models and fetching media, per job, on the reference GPU.
JOB_OVERHEAD_S = 5.0

_NOISE = re.compile(r"NVIDIA|GEFORCE|TESLA|QUADRO|SXM\d?|\d+\s*GB|[^A-Z0-9]")


class RuntimeSource(StrEnum):
    BENCHMARK = "benchmark"
    OBSERVED = "observed"
    TABLE = "table"
    UNKNOWN_MODEL = "unknown_model"


@lru_cache(maxsize=4096)
def normalise(model: str) -> str:
    """'NVIDIA GeForce RTX 4090' -> 'RTX4090'; 'A100-80GB-SXM' -> 'A100'."""
    return _NOISE.sub("", model.upper())


@lru_cache(maxsize=4096)
def relative_performance(model: str) -> float | None:
    """Speed relative to the reference GPU, or None for a model not in the table."""
    name = normalise(model)
    if name in TENSOR_TFLOPS:
        return TENSOR_TFLOPS[name] / REFERENCE_TFLOPS
    # The longest table entry the name contains: "RTX4080S" is an RTX4080,
    # "A10080GB" an A100 and not an A10.
    known = [key for key in TENSOR_TFLOPS if key in name]
    if not known:
        return None
    return TENSOR_TFLOPS[max(known, key=len)] / REFERENCE_TFLOPS


# Weakest last: a runtime is only as good as its weakest part.
_STRENGTH = {source: rank for rank, source in enumerate(RuntimeSource)}


def rate(analyses: tuple[str, ...], model: str, knowledge: RuntimeKnowledge,
         profile: Mapping[str, float] | None = None,
         ) -> tuple[float, float, RuntimeSource]:
    """Fixed seconds per job and seconds per work unit of the analyses on one
    GPU of ``model``, and the weakest source either came from."""
    name = normalise(model)
    relative = relative_performance(model)
    overhead = JOB_OVERHEAD_S / (relative or UNKNOWN_RELATIVE)
    per_unit = 0.0
    weakest = RuntimeSource.BENCHMARK
    for analysis in analyses:
        key = (name, analysis)
        if profile and analysis in profile:
            seconds, source = profile[analysis], RuntimeSource.BENCHMARK
        elif key in knowledge.benchmarks:
            seconds, source = knowledge.benchmarks[key], RuntimeSource.BENCHMARK
        elif key in knowledge.observed:
            seconds, source = knowledge.observed[key], RuntimeSource.OBSERVED
        elif relative is not None:
            seconds = catalogue().specs[analysis].reference_s_per_unit / relative
            source = RuntimeSource.TABLE
        else:
            seconds = catalogue().specs[analysis].reference_s_per_unit / UNKNOWN_RELATIVE
            source = RuntimeSource.UNKNOWN_MODEL
        per_unit += seconds
        if _STRENGTH[source] > _STRENGTH[weakest]:
            weakest = source
    return overhead, per_unit, weakest


def runtime_s(analyses: tuple[str, ...], units: float, model: str,
              knowledge: RuntimeKnowledge,
              profile: Mapping[str, float] | None = None) -> tuple[float, RuntimeSource]:
    """Seconds the analyses take on one GPU of ``model``, and the weakest source used."""
    overhead, per_unit, source = rate(analyses, model, knowledge, profile)
    return overhead + per_unit * units, source
