"""The hard rules a placement must keep, checked on the replay's own terms.

Written apart from the engine's filters on purpose: the replay audits every
placement with these, so an engine that broke a rule would show up as a
violation instead of being trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

from aima_tasks.kernel import routing
from aima_tasks.kernel.classification import USABLE_GPU_STATUSES, Confidentiality
from aima_tasks.kernel.placement import JobSpec, LocalGpu, Offer
from aima_tasks.kernel.placement.inputs import cuda_tuple


class Rule(StrEnum):
    CONFIDENTIAL_ON_CLOUD = "confidential_on_cloud"
    VRAM_TOO_SMALL = "vram_too_small"
    CUDA_TOO_OLD = "cuda_too_old"
    ACCESS_DENIED = "access_denied"
    GPU_UNAVAILABLE = "gpu_unavailable"
    REGION = "region"
    # Seeds 003 §1.3 and 002 §2: a confidential job waits for a local GPU that
    # can take it; refusing it while one exists breaks the rule.
    CONFIDENTIAL_REFUSED = "confidential_refused"


@lru_cache(maxsize=256)
def _cuda(version: str) -> tuple[int, int]:
    return cuda_tuple(version)


@lru_cache(maxsize=256)
def min_vram_gb(need_gb: float) -> float:
    """The VRAM a card must report to serve a job needing ``need_gb``: its class
    within the same tolerance the agents subscribe by."""
    try:
        return routing.class_for_need(need_gb) * routing.VRAM_TOLERANCE
    except routing.NoGpuClass:
        return need_gb


def hardware_fits(spec: JobSpec, vram_gb: float, cuda_version: str) -> bool:
    return (vram_gb >= min_vram_gb(spec.vram_need_gb)
            and _cuda(cuda_version) >= _cuda(spec.min_cuda))


def local_violations(spec: JobSpec, gpu: LocalGpu) -> tuple[Rule, ...]:
    broken = _hardware(spec, gpu.vram_gb, gpu.cuda_version)
    if gpu.status not in USABLE_GPU_STATUSES:
        broken.append(Rule.GPU_UNAVAILABLE)
    if gpu.access_groups and not gpu.access_groups & spec.groups:
        broken.append(Rule.ACCESS_DENIED)
    return tuple(broken)


def refusal_violations(spec: JobSpec, gpus: Sequence[LocalGpu]) -> tuple[Rule, ...]:
    """A refused confidential job that some local GPU could take (hardware,
    status, access, a schedule that ever opens) is a violation."""
    if spec.confidentiality != Confidentiality.CONFIDENTIAL:
        return ()
    if any(gpu.schedule.intervals and not local_violations(spec, gpu) for gpu in gpus):
        return (Rule.CONFIDENTIAL_REFUSED,)
    return ()


def cloud_violations(spec: JobSpec, offer: Offer) -> tuple[Rule, ...]:
    broken = _hardware(spec, offer.vram_gb, offer.cuda_version)
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        broken.append(Rule.CONFIDENTIAL_ON_CLOUD)
    if not region_allows(spec, offer):
        broken.append(Rule.REGION)
    return tuple(broken)


def region_allows(spec: JobSpec, offer: Offer) -> bool:
    return not spec.region or offer.region.upper().startswith(spec.region.upper())


def _hardware(spec: JobSpec, vram_gb: float, cuda_version: str) -> list[Rule]:
    broken = []
    if vram_gb < min_vram_gb(spec.vram_need_gb):
        broken.append(Rule.VRAM_TOO_SMALL)
    if _cuda(cuda_version) < _cuda(spec.min_cuda):
        broken.append(Rule.CUDA_TOO_OLD)
    return broken
