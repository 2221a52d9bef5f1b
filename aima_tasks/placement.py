"""Placement: which GPU queue a job goes to, and why.

Pure and deterministic: plain data in, a Decision out; no Django, no Celery,
no I/O. This first cut places on local GPUs by the media type's VRAM need;
the full engine (cloud offers, prices, policy) fills the same interface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aima_tasks import routing
from aima_tasks.analyses import MIN_CUDA, MediaType, vram_need_gb


def cuda_at_least(version: str, minimum: str) -> bool:
    def parse(v: str) -> tuple[int, ...]:
        return tuple(int(part) for part in v.split("."))

    return parse(version) >= parse(minimum)


@dataclass(frozen=True)
class JobSpec:
    media_type: MediaType
    size_bytes: int
    confidentiality: str
    urgency: str
    analyses: tuple[str, ...]
    duration_s: float | None = None


@dataclass(frozen=True)
class LocalGpuState:
    gpu_id: int
    model: str
    vram_gb: float
    cuda_version: str
    host: str
    usable: bool
    simulated: bool = False


@dataclass(frozen=True)
class Decision:
    placed: bool
    reason: str
    vram_need_gb: float
    min_cuda: str = MIN_CUDA
    scope: str | None = None
    gpu_class: int | None = None
    queue: str | None = None
    candidate_gpu_ids: tuple[int, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["candidate_gpu_ids"] = list(self.candidate_gpu_ids)
        return data


def decide(spec: JobSpec, fleet: list[LocalGpuState]) -> Decision:
    need = vram_need_gb(spec.media_type)
    try:
        gpu_class = routing.class_for_need(need)
    except routing.NoGpuClass as exc:
        return Decision(placed=False, reason=str(exc), vram_need_gb=need)

    fitting = [gpu for gpu in fleet
               if gpu.usable and gpu_class in routing.classes_served(gpu.vram_gb)
               and cuda_at_least(gpu.cuda_version, MIN_CUDA)]
    if not fitting:
        return Decision(
            placed=False, vram_need_gb=need,
            reason=(f"no usable local GPU has {need:g} GB VRAM and CUDA {MIN_CUDA} or newer "
                    f"for {spec.media_type} analysis; register one in the admin or start an "
                    f"agent on a host with such a GPU"))

    candidates = tuple(sorted(gpu.gpu_id for gpu in fitting))
    return Decision(
        placed=True, vram_need_gb=need, scope=routing.Scope.LOCAL, gpu_class=gpu_class,
        queue=routing.gpu_queue(routing.Scope.LOCAL, gpu_class), candidate_gpu_ids=candidates,
        reason=(f"{spec.media_type} needs {need:g} GB VRAM: local class {gpu_class} GB, "
                f"{len(candidates)} local GPU(s) can serve it"))
