"""Which GPUs an agent serves, and with which queues."""

from __future__ import annotations

import pytest

from agents.gpus import BadSimulation, GpuInfo, simulated
from agents.runner import StartupError, plan_work
from aima_tasks.kernel.routing import Scope


def gpu(index: int, vram_gb: float, cuda: str = "12.4") -> GpuInfo:
    return GpuInfo(index=index, uuid=f"GPU-{index}", model=f"Card {index}", vram_gb=vram_gb,
                   cuda_version=cuda)


def test_several_simulated_gpus_each_with_a_lasting_identity():
    big, small = simulated("Sim A:24, Sim B:8", "host-1")
    assert (big.index, big.model, big.vram_gb) == (0, "Sim A", 24)
    assert (small.index, small.model, small.vram_gb) == (1, "Sim B", 8)
    assert big.uuid != small.uuid and big.simulated and small.simulated
    # The same host asking again gets the same GPUs; the first keeps the
    # identity a single simulated GPU of that name always had.
    assert [g.uuid for g in simulated("Sim A:24,Sim B:8", "host-1")] == [big.uuid, small.uuid]
    assert simulated("Sim A:24", "host-1")[0].uuid == big.uuid
    assert simulated("Sim A:24", "host-2")[0].uuid != big.uuid
    with pytest.raises(BadSimulation, match="separate them with commas"):
        simulated("Sim A:24,", "host-1")


def test_each_gpu_serves_the_queues_of_its_vram_and_cuda():
    works = plan_work(Scope.LOCAL, [gpu(0, 24), gpu(1, 4), gpu(2, 48, cuda="11.4"), gpu(3, 8)])
    assert {w.gpu.index: w.queues for w in works} == {
        0: ("gpu.local.8", "gpu.local.16", "gpu.local.24"), 3: ("gpu.local.8",)}


def test_a_gpu_serves_only_the_queues_its_registration_gave_the_agent():
    # A cloud instance's agent is given its instance's class only.
    works = plan_work(Scope.CLOUD, [gpu(0, 48)], allowed=["gpu.cloud.24"])
    assert [w.queues for w in works] == [("gpu.cloud.24",)]


def test_a_host_whose_gpus_can_serve_nothing_says_why():
    with pytest.raises(StartupError, match=r"Card 0 has 4 GB VRAM and CUDA 12.4.*CUDA must be "
                                           r"11.8 or newer"):
        plan_work(Scope.LOCAL, [gpu(0, 4)])
