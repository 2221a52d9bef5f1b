"""Partial execution (seeds 003 §4, 004 §6): a job with an analysis that no GPU
it may use can hold runs the analyses that one can, and says which it skipped
and why, instead of being refused whole.

Only hardware skips an analysis: no usable local GPU (open some time, open to
the job's groups) and, for a job that may leave local hardware, no cloud offer
of an enabled provider in its region, reliable enough, has the VRAM class and
CUDA that analysis needs. The rest is then placed as any job is; a job that
cannot be placed all the same, or has nothing left to run, is refused whole
with the engine's own reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from aima_tasks.kernel import routing
from aima_tasks.kernel.analyses import MEDIA_VRAM_GB, MIN_CUDA, Needs
from aima_tasks.kernel.classification import USABLE_GPU_STATUSES, Confidentiality
from aima_tasks.kernel.placement.cloud import any_offer_fits
from aima_tasks.kernel.placement.decision import Code, Decision, Skipped
from aima_tasks.kernel.placement.engine import decide
from aima_tasks.kernel.placement.inputs import FleetState, JobSpec, Policy, cuda_tuple
from aima_tasks.kernel.placement.offers import OfferBook


def decide_partial(spec: JobSpec, needs: Mapping[str, Needs], fleet: FleetState,
                   offers: OfferBook, policy: Policy) -> Decision:
    """``decide``, falling back to the job without the analyses that cannot run
    anywhere; ``needs`` is what each analysis asks of a GPU, its smallest model
    variant included (an analysis not named asks for nothing beyond the media)."""
    decision = decide(spec, fleet, offers, policy)
    if decision.placed:
        return decision
    skipped = [Skipped(name, why) for name in spec.analyses
               if (why := _why_not(spec, needs.get(name, Needs()), name, fleet, offers, policy))]
    names = {skip.analysis for skip in skipped}
    kept = tuple(name for name in spec.analyses if name not in names)
    if not skipped or not kept:
        return decision
    rest = [needs.get(name, Needs()) for name in kept]
    reduced = replace(spec, analyses=kept, model_vram_gb=0.0,
                      analyses_vram_gb=max(need.vram_gb for need in rest),
                      min_cuda=max([MIN_CUDA, *(need.min_cuda for need in rest)], key=cuda_tuple))
    partial = decide(reduced, fleet, offers, policy)
    if not partial.placed:
        return decision
    return replace(partial, reasons=(*partial.reasons, Code.PARTIAL), skipped=tuple(skipped),
                   reason=f"{partial.reason} Partial: runs without {', '.join(sorted(names))} "
                          "(no GPU it may use can hold them).")


def _why_not(spec: JobSpec, need: Needs, name: str, fleet: FleetState, offers: OfferBook,
             policy: Policy) -> str:
    """Why no GPU the job may use can run analysis ``name``; empty if one can."""
    vram = max(MEDIA_VRAM_GB[spec.media_type], need.vram_gb)
    wants = f"{name} needs {vram:g} GB VRAM and CUDA {need.min_cuda}"
    try:
        min_vram = routing.class_for_need(vram) * routing.VRAM_TOLERANCE
    except routing.NoGpuClass as exc:
        return f"{wants}: {exc}"
    needed = cuda_tuple(need.min_cuda)
    for gpu in fleet.gpus:
        if (gpu.vram_gb >= min_vram and cuda_tuple(gpu.cuda_version) >= needed
                and gpu.status in USABLE_GPU_STATUSES and gpu.schedule.intervals
                and (not gpu.access_groups or gpu.access_groups & spec.groups)):
            return ""
    if spec.confidentiality == Confidentiality.CONFIDENTIAL:
        return f"{wants}; no local GPU the job may use has them (confidential: no cloud)"
    if any_offer_fits(spec, offers, policy, min_vram, need.min_cuda):
        return ""
    return f"{wants}; no local GPU the job may use and no cloud offer within the policy has them"
