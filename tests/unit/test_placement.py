"""The first-cut placement: local GPU class by the media type's VRAM need."""

from __future__ import annotations

import pytest

from aima_tasks.analyses import MediaType
from aima_tasks.placement import JobSpec, LocalGpuState, decide


def spec(media_type: MediaType, confidentiality: str = "internal") -> JobSpec:
    return JobSpec(media_type=media_type, size_bytes=1000, confidentiality=confidentiality,
                   urgency="normal", analyses=())


def gpu(gpu_id: int, vram: float, cuda: str = "12.4", usable: bool = True) -> LocalGpuState:
    return LocalGpuState(gpu_id=gpu_id, model="GPU", vram_gb=vram, cuda_version=cuda,
                         host="h", usable=usable)


@pytest.mark.parametrize("media_type, queue, need", [
    (MediaType.VIDEO, "gpu.local.24", 24), (MediaType.IMAGE, "gpu.local.16", 16),
    (MediaType.AUDIO, "gpu.local.8", 8)])
def test_media_type_sets_the_class(media_type, queue, need):
    decision = decide(spec(media_type), [gpu(1, 48), gpu(2, 24)])
    assert decision.placed
    assert (decision.queue, decision.vram_need_gb, decision.scope) == (queue, need, "local")
    assert decision.candidate_gpu_ids == (1, 2)


def test_too_little_vram_is_not_placed_and_says_what_to_do():
    decision = decide(spec(MediaType.VIDEO), [gpu(1, 16)])
    assert not decision.placed and decision.queue is None
    assert "24 GB" in decision.reason and "register one" in decision.reason


@pytest.mark.parametrize("fleet", [
    [gpu(1, 48, cuda="11.7")],  # too old a CUDA
    [gpu(1, 48, usable=False)],  # retired or in maintenance
    [],
])
def test_unfit_gpus_are_passed_over(fleet):
    assert not decide(spec(MediaType.AUDIO), fleet).placed


def test_cuda_compared_as_numbers_not_text():
    assert decide(spec(MediaType.AUDIO), [gpu(1, 8, cuda="11.10")]).placed


def test_confidential_media_is_placed_locally():
    decision = decide(spec(MediaType.IMAGE, "confidential"), [gpu(1, 24)])
    assert decision.scope == "local" and decision.queue.startswith("gpu.local.")


def test_decision_serialises():
    data = decide(spec(MediaType.AUDIO), [gpu(3, 8)]).to_dict()
    assert data["candidate_gpu_ids"] == [3] and data["min_cuda"] == "11.8"
