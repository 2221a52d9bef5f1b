"""The agent's benchmarks: every analyzer timed on sample media, and the
GPU's raw FP32/FP16 throughput and memory bandwidth."""

from __future__ import annotations

import sys

from agents import compute
from agents.benchmark import analyzer_profile
from agents.gpus import GpuInfo
from agents.runner import compute_benchmark
from aima_tasks.kernel.analyses import catalogue


def test_every_analyzer_is_timed_per_work_unit(tmp_path):
    profile = analyzer_profile(tmp_path, repeat=1)
    assert set(profile) == set(catalogue().specs)
    assert all(0 < seconds < 10 for seconds in profile.values()), profile
    # Nothing of the sample media is left behind.
    assert list(tmp_path.iterdir()) == []


def test_compute_figures_say_where_they_were_measured():
    profile = compute.measure(repeat=1, on="cpu")
    assert profile.device == "cpu"
    assert profile.fp32_tflops > 0 and profile.fp16_tflops > 0 and profile.memory_gb_per_s > 0


def test_a_real_gpu_is_measured_in_a_process_that_sees_only_it():
    # ONNX Runtime here has no CUDA provider: the figures are the CPU's, and say so.
    gpu = GpuInfo(index=0, uuid="GPU-0000", model="Card", vram_gb=24, cuda_version="12.4")
    report = compute_benchmark(gpu)
    assert report["device"] == compute.device() == "cpu"
    assert set(report) == {"device", "fp32_tflops", "fp16_tflops", "memory_gb_per_s"}


def test_a_failing_benchmark_costs_the_figures_not_the_agent(monkeypatch, caplog):
    gpu = GpuInfo(index=0, uuid="GPU-0000", model="Card", vram_gb=24, cuda_version="12.4")
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a process that fails at once
    assert compute_benchmark(gpu) is None
    assert "registering without its compute figures" in caplog.text
