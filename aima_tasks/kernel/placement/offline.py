"""A job that only a GPU whose agent fell silent could take waits for that GPU.

An agent restarting, a host rebooting, a heartbeat the control plane could not
record: its GPUs are offline to placement for a while, and on a fleet of one
host every job submitted meanwhile would be refused. The GPU still exists
(seed 003 §1.3 refuses a confidential job only when no suitable local GPU
exists), and the broker keeps its queue's messages until a worker takes them.
So when nothing in service can take a job, it queues for the offline GPU that
fits it, saying so (reason code ``gpu_offline_queued``); a GPU failed, in
maintenance or retired is no such place.
"""

from __future__ import annotations

import math
from collections import Counter

from aima_tasks.kernel import routing
from aima_tasks.kernel.classification import Confidentiality, GpuStatus
from aima_tasks.kernel.placement.decision import Code, Decision, Option
from aima_tasks.kernel.placement.inputs import (
    LOCAL,
    FleetState,
    JobSpec,
    LocalGpu,
    Policy,
    cuda_tuple,
)
from aima_tasks.kernel.placement.performance import rate
from aima_tasks.kernel.schedule import second_of_week


def fits(gpu: LocalGpu, spec: JobSpec) -> bool:
    """The offline GPU would take the job once back: CUDA and access allow it."""
    return (gpu.status == GpuStatus.OFFLINE
            and cuda_tuple(gpu.cuda_version) >= cuda_tuple(spec.min_cuda)
            and (not gpu.access_groups or bool(gpu.access_groups & spec.groups)))


def wait_s(gpu: LocalGpu, fleet: FleetState) -> float:
    """Its queued work, from when its availability schedule opens: what is
    known of its wait (not when its agent is back)."""
    if gpu.schedule.always:
        return gpu.backlog_s
    return gpu.schedule.wait_from(second_of_week(fleet.now), gpu.backlog_s)


def wait_for_offline(spec: JobSpec, fleet: FleetState, policy: Policy, gpu_class: int,
                     blocked: list[LocalGpu], excluded: Counter[str],
                     max_wait: float) -> Decision | None:
    """Queue for the offline GPU among ``blocked`` (those with the VRAM that
    cannot take the job now) that fits and is known to free up first, within
    ``max_wait``; None when there is none."""
    waits = {gpu.gpu_id: wait_s(gpu, fleet) for gpu in blocked if fits(gpu, spec)}
    waiting = [gpu for gpu in blocked
               if gpu.gpu_id in waits and waits[gpu.gpu_id] <= max_wait
               and math.isfinite(waits[gpu.gpu_id])]
    if not waiting:
        return None
    gpu = min(waiting, key=lambda g: (waits[g.gpu_id], g.gpu_id))
    overhead, per_unit, source = rate(spec.analyses, gpu.model, fleet.knowledge,
                                      gpu.profile or None)
    runtime = overhead + per_unit * spec.work_units
    choice = Option(scope=routing.Scope.LOCAL.value, provider=LOCAL, gpu_model=gpu.model,
                    spot=False, price_per_hour=gpu.cost_per_hour, wait_s=waits[gpu.gpu_id],
                    runtime_s=runtime, cost=gpu.cost_per_hour * runtime / 3600,
                    runtime_source=source.value, gpu_id=gpu.gpu_id, host=gpu.host,
                    vram_gb=gpu.vram_gb)
    return Decision(
        placed=True, code=Code.GPU_OFFLINE_QUEUED, strategy=policy.strategy,
        vram_need_gb=spec.vram_need_gb, min_cuda=spec.min_cuda, gpu_class=gpu_class,
        scope=routing.Scope.LOCAL, queue=routing.gpu_queue(routing.Scope.LOCAL, gpu_class),
        choice=choice, reasons=_reasons(spec, policy, choice.wait_s),
        reason=(f"nothing in service can take it; local GPU #{gpu.gpu_id} ({gpu.model} @ "
                f"{gpu.host}) can, and is offline (its agent is silent): the job waits in "
                "its queue until the GPU is back, its start unknown till then"),
        excluded={str(code): n for code, n in sorted(excluded.items())})


def _reasons(spec: JobSpec, policy: Policy, wait: float) -> tuple[Code, ...]:
    reasons = [Code.GPU_OFFLINE_QUEUED]
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        reasons.append(Code.CONFIDENTIAL_LOCAL_ONLY)
        if wait > policy.max_local_wait_s:
            reasons.append(Code.CONFIDENTIAL_QUEUED)
    return tuple(reasons)
