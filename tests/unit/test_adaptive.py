"""Model variant, precision and batch size per GPU (seed 003 §3.2)."""

from __future__ import annotations

from agents.adaptive import GpuFacts, batch_size, plan
from agents.gpus import GpuInfo
from agents.runner import fp16_gains
from aima_tasks.kernel.analyses import Precision, catalogue
from aima_tasks.kernel.work import ModelChoice

ALL = (Precision.FP32, Precision.FP16, Precision.INT8)


def variant(name: str, precision: str, vram: float) -> ModelChoice:
    return ModelChoice(name=name, version="1", sha256=name * 8, filename=f"{name}.onnx",
                       precision=precision, min_vram_gb=vram)


VARIANTS = (variant("nano-fp32", "fp32", 2), variant("large-fp32", "fp32", 20),
            variant("large-fp16", "fp16", 12), variant("nano-int8", "int8", 1))


def test_a_big_gpu_takes_the_strongest_fp16_model_and_a_big_batch():
    chosen = plan(VARIANTS, ALL, GpuFacts(vram_gb=80, device="cuda"))
    assert chosen.model.name == "large-fp16" and chosen.precision == Precision.FP16
    assert chosen.batch_size == 16


def test_a_small_gpu_takes_what_fits():
    chosen = plan(VARIANTS, ALL, GpuFacts(vram_gb=8, device="cuda"))
    # No fp16 variant fits in 8 GB: int8 is next fastest on a GPU.
    assert chosen.model.name == "nano-int8" and chosen.batch_size == 14
    assert "fits 8 GB" in chosen.reason


def test_the_cpu_prefers_int8_and_no_batching():
    chosen = plan(VARIANTS, ALL, GpuFacts(vram_gb=80, device="cpu"))
    assert chosen.model.name == "nano-int8" and chosen.batch_size == 1


def test_precisions_the_analysis_cannot_run_are_never_chosen():
    chosen = plan(VARIANTS, (Precision.FP32,), GpuFacts(vram_gb=80, device="cuda"))
    assert chosen.model.name == "large-fp32" and chosen.precision == Precision.FP32


def test_nothing_fits_falls_back_to_the_built_in_model_and_says_why():
    chosen = plan((variant("huge", "fp16", 40),), ALL, GpuFacts(vram_gb=24, device="cuda"))
    assert chosen.model is None and chosen.precision == Precision.FP32
    assert chosen.reason == "huge needs 40 GB, this GPU has 24 GB: built-in model"
    assert plan((), ALL, GpuFacts(24, "cpu")).reason == "no registry model for this analysis"


def test_batch_size_follows_spare_memory():
    assert batch_size(GpuFacts(4, "cuda"), 3.8) == 1
    assert batch_size(GpuFacts(24, "cuda"), 20) == 8
    assert batch_size(GpuFacts(24, "cpu"), 0) == 1


def test_a_gpu_measured_without_fast_half_precision_takes_fp32():
    slow = GpuFacts(vram_gb=80, device="cuda", fp16_gain=1.0)
    assert plan(VARIANTS, ALL, slow).model.name == "large-fp32"
    fast = GpuFacts(vram_gb=80, device="cuda", fp16_gain=7.9)
    assert plan(VARIANTS, ALL, fast).model.name == "large-fp16"


def test_fp16_gains_come_from_cuda_benchmarks_only():
    gpus = [GpuInfo(0, "GPU-a", "H100", 80, "12.4"), GpuInfo(1, "GPU-b", "X", 24, "12.4"),
            GpuInfo(2, "GPU-c", "Y", 24, "12.4")]
    reports = [{"compute_benchmark": {"device": "cuda", "fp32_tflops": 50.0,
                                      "fp16_tflops": 400.0}},
               {"compute_benchmark": {"device": "cpu", "fp32_tflops": 1.0,
                                      "fp16_tflops": 0.5}},
               {"compute_benchmark": None}]
    assert fp16_gains(gpus, reports) == {"GPU-a": 8.0}


def test_a_built_in_model_runs_in_its_fastest_own_precision():
    """Whisper's precisions are its own (no registry variant): int8 on a CPU, fp16 on a
    GPU; a built-in model with a registry task stays in fp32."""
    builtin = (Precision.FP16, Precision.INT8, Precision.FP32)
    assert plan((), ALL, GpuFacts(24, "cpu"), builtin).precision == Precision.INT8
    assert plan((), ALL, GpuFacts(24, "cuda"), builtin).precision == Precision.FP16
    assert plan((), ALL, GpuFacts(24, "cuda")).precision == Precision.FP32
    specs = catalogue().specs
    assert specs["transcript"].builtin_precisions == builtin
    assert specs["people"].builtin_precisions == (Precision.FP32,)
