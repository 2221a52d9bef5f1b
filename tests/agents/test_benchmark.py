"""The agent's benchmarks: every analyzer timed on sample media (speech where
espeak-ng is installed), and the GPU's raw FP32/FP16 throughput and memory bandwidth."""

from __future__ import annotations

import sys

from agents import analyzers, compute
from agents.analyzers.context import AnalysisContext
from agents.benchmark import analyzer_profile, bench_media
from agents.gpus import GpuInfo
from agents.model_cache import packaged_models
from agents.runner import compute_benchmark
from aima_tasks.kernel.analyses import MediaType, catalogue


def test_every_analyzer_is_timed_per_work_unit(tmp_path):
    profile = analyzer_profile(tmp_path, repeat=1)
    assert set(profile) == set(catalogue().specs)
    assert all(0 < seconds < 10 for seconds in profile.values()), profile
    # Nothing of the sample media is left behind.
    assert list(tmp_path.iterdir()) == []


def test_the_speech_analyses_are_timed_on_speech(tmp_path):
    # Whisper on a tone decodes next to nothing: the bench video speaks.
    media, speech = bench_media(tmp_path)
    assert speech
    video, duration_s = media[MediaType.VIDEO]
    ctx = AnalysisContext(builtin=packaged_models(catalogue().specs["vad"].models))
    heard = analyzers.run("vad", video, ctx)
    spoken = sum(s["end_s"] - s["start_s"] for s in heard["segments"])
    assert spoken > duration_s / 2, heard


def test_without_espeak_ng_the_bench_sound_is_a_tone(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))  # a host without espeak-ng
    media, speech = bench_media(tmp_path)
    assert not speech and "timed on a tone" in caplog.text
    assert media[MediaType.VIDEO][1] == media[MediaType.AUDIO][1] == 8.0


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
