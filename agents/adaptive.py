"""Per GPU, the registry variant, precision and batch size an analysis runs with
(seed 003 §3.2): the strongest model the GPU's memory holds, in the precision
its hardware runs fastest (by its compute benchmark where one ran), fed as many
pictures at once as its memory allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aima_tasks.kernel.analyses import Precision
from aima_tasks.kernel.work import ModelChoice

# Fastest first. Tensor cores make fp16 the GPU's best; on a CPU, int8 kernels beat
# fp32 and fp16 is emulated (slowest).
PREFERENCE: dict[str, tuple[Precision, ...]] = {
    "cuda": (Precision.FP16, Precision.INT8, Precision.FP32),
    "cpu": (Precision.INT8, Precision.FP32, Precision.FP16),
}
# A GPU whose measured FP16 throughput is less than this many times its FP32 has no
# fast half precision (e.g. before tensor cores): FP32 first there.
FP16_WORTH = 1.5
SLOW_FP16 = (Precision.FP32, Precision.INT8, Precision.FP16)
# GPU memory per picture of a batch beyond the model's own need (640x640 detectors,
# activations included, with room to spare), and the largest batch worth sending.
GB_PER_BATCH_ITEM = 0.5
MAX_BATCH = 16


@dataclass(frozen=True)
class GpuFacts:
    vram_gb: float
    device: str  # "cuda" where ONNX Runtime can use the GPU, else "cpu"
    # Measured FP16 over FP32 throughput; None: not measured.
    fp16_gain: float | None = None

    def preference(self) -> tuple[Precision, ...]:
        if self.device == "cuda" and self.fp16_gain is not None and (
                self.fp16_gain < FP16_WORTH):
            return SLOW_FP16
        return PREFERENCE.get(self.device, PREFERENCE["cpu"])


@dataclass(frozen=True)
class Plan:
    model: ModelChoice | None  # None: the analysis's built-in model
    precision: Precision
    batch_size: int
    reason: str


def plan(variants: Sequence[ModelChoice], supported: Sequence[Precision],
         gpu: GpuFacts, builtin: Sequence[Precision] = (Precision.FP32,)) -> Plan:
    """``builtin``: the precisions the analysis's built-in model runs in, fastest chosen
    when no registry variant is (Whisper quantises on load; an ONNX file has one)."""
    order = gpu.preference()
    usable = [v for v in variants if v.precision in supported and v.precision in order]
    fitting = [v for v in usable if v.min_vram_gb <= gpu.vram_gb]
    if not fitting:
        reason = "no registry model for this analysis"
        if usable:
            smallest = min(usable, key=lambda v: v.min_vram_gb)
            reason = (f"{smallest.name} needs {smallest.min_vram_gb:g} GB, this GPU has "
                      f"{gpu.vram_gb:g} GB: built-in model")
        precision = next((p for p in order if p in builtin), Precision.FP32)
        return Plan(None, precision, batch_size(gpu, 0.0), reason)
    # Fastest precision first, then the biggest (strongest) model that fits.
    best = min(fitting, key=lambda v: (order.index(Precision(v.precision)), -v.min_vram_gb,
                                       v.name))
    return Plan(best, Precision(best.precision), batch_size(gpu, best.min_vram_gb),
                f"{best.name} {best.version} ({best.precision}) fits {gpu.vram_gb:g} GB on "
                f"{gpu.device}")


def batch_size(gpu: GpuFacts, model_gb: float) -> int:
    if gpu.device != "cuda":
        return 1  # the CPU gains nothing from batching but latency
    spare = max(0.0, gpu.vram_gb - model_gb)
    return max(1, min(MAX_BATCH, int(spare // GB_PER_BATCH_ITEM)))
