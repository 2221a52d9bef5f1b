"""The agent's Celery worker and its one task: run the analyses of a job.

The worker is started in a process that has set :data:`CONTEXT`; its pool
processes are forked from it and inherit it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import worker_process_init

from agents import adaptive, analyzers
from agents.analyzers.context import AnalysisContext, LoadedModel
from agents.control_plane import (
    ChecksumMismatch,
    ControlPlane,
    ControlPlaneError,
    JobNotWanted,
    Unreachable,
    wait_s,
)
from agents.model_cache import ModelCache, packaged_models
from aima_tasks.celery_config import make_agent_app
from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.routing import Scope, TaskName
from aima_tasks.kernel.work import (
    AnalysisOutcome,
    AnalysisWork,
    ModelChoice,
    OutcomeStatus,
    ResultItem,
)
from aima_tasks.policy import task_options

log = logging.getLogger(__name__)

T = TypeVar("T")

app = make_agent_app("aima-agent")

# Waits between calls to an unreachable control plane before the unit goes back to the broker.
RETRY_DELAYS_S = (1, 2, 4, 8, 16)
# How long a unit the control plane would not give this agent is held before it goes back.
REFUSED_PAUSE_S = 5
PR_SET_PDEATHSIG = 1
# The agent sends this to a worker's pool process to have its unit handed back
# at once (a spot preemption notice, the control plane gone): see HandBack.
HAND_BACK_SIGNAL = signal.SIGUSR2


class HandBack(BaseException):
    """The agent takes the unit back: its analysis is abandoned and the message
    rejected with requeue, for the broker to give to another host. A
    BaseException, so that no handler of an analysis's own errors keeps it."""


# When the unit this pool process runs began (monotonic); None between units.
UNIT_STARTED: float | None = None


@dataclass(frozen=True)
class AgentContext:
    control_plane: ControlPlane
    agent_id: int
    scope: Scope
    gpu_uuid: str
    workdir: Path
    model_cache: Path | None = None
    gpu_vram_gb: float = 0.0
    gpu_simulated: bool = True
    # FP16/FP32 throughput per GPU uuid, from the compute benchmark (when it ran on CUDA).
    fp16_gains: dict[str, float] = field(default_factory=dict)

    def gpu_facts(self) -> adaptive.GpuFacts:
        return adaptive.GpuFacts(vram_gb=self.gpu_vram_gb, device=self.device(),
                                 fp16_gain=self.fp16_gains.get(self.gpu_uuid))

    def device(self) -> str:
        """Where ONNX Runtime runs: the GPU where its CUDA provider is installed."""
        if self.gpu_simulated:
            return "cpu"
        import onnxruntime  # only a real GPU's worker needs to ask

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"


CONTEXT: AgentContext | None = None


def now() -> str:
    return datetime.now(UTC).isoformat()


class ModelUnavailable(RuntimeError):
    """A model the analysis needs could not be had verified: the job fails with this."""


def registry_model(choice: ModelChoice, cache: ModelCache | None) -> LoadedModel:
    if cache is None:
        raise ModelUnavailable(f"model {choice.name} {choice.version}: this agent has no "
                               "model cache (--model-cache)")
    try:
        path = cache.fetch(choice.sha256, choice.filename)
    except ChecksumMismatch as exc:
        raise ModelUnavailable(f"model {choice.name} {choice.version} refused: {exc}") from None
    return LoadedModel(choice.name, choice.version, choice.sha256, path, dict(choice.config))


def analysis_context(name: str, work: AnalysisWork, gpu: adaptive.GpuFacts,
                     cache: ModelCache | None) -> tuple[AnalysisContext, dict]:
    """The context one analysis runs with, and the metadata that says how it ran."""
    spec = catalogue().specs[name]
    builtin = packaged_models(spec.models)
    chosen = adaptive.plan(work.models.get(name, ()), spec.precisions, gpu,
                           spec.builtin_precisions)
    model = registry_model(chosen.model, cache) if chosen.model else None
    # Every reference the unit carries (enrolled voices), not a planner's pick of one.
    references = tuple(registry_model(choice, cache)
                       for choice in work.models.get(spec.references_key, ()))
    ctx = AnalysisContext(start_s=work.start_s, end_s=work.end_s, builtin=builtin, model=model,
                          device=gpu.device, precision=chosen.precision,
                          batch_size=chosen.batch_size, references=references)
    canary = bool(chosen.model and chosen.model.canary)
    used = [model] if model else list(builtin.values())
    meta = {"models": [{"name": m.name, "version": m.version, "sha256": m.sha256,
                        "canary": canary} for m in used],
            "device": gpu.device, "precision": chosen.precision.value,
            "batch_size": chosen.batch_size, "choice": chosen.reason,
            "segment": work.segment, "start_s": work.start_s, "end_s": work.end_s}
    if references:
        meta["references"] = [{"name": r.name, "version": r.version, "sha256": r.sha256}
                              for r in references]
    return ctx, meta


def run_analyses(work: AnalysisWork, media: Path, gpu: adaptive.GpuFacts,
                 cache: ModelCache | None) -> tuple[list[ResultItem], list[str]]:
    results, errors = [], []
    for index, name in enumerate(work.analyses):
        started = now()
        try:
            ctx, meta = analysis_context(name, work, gpu, cache)
            data = analyzers.run(name, media, ctx)
        except SoftTimeLimitExceeded:
            # The unit is out of time: report what is done before the hard limit kills it.
            log.error("job %s: the unit's time limit ended analysis %s", work.job_id, name)
            errors.extend(f"{left}: not finished within the unit's time limit"
                          for left in work.analyses[index:])
            break
        except (ChecksumMismatch, ModelUnavailable) as exc:
            log.error("analysis %s of job %s: %s", name, work.job_id, exc)
            errors.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # one analysis failing must not hide the others' results
            log.exception("analysis %s of job %s failed", name, work.job_id)
            errors.append(f"{name}: {exc}")
            continue
        results.append(ResultItem(analysis=name, data=data, started_at=started,
                                  finished_at=now(), meta=meta))
    return results, errors


def patiently(call: Callable[[], T], what: str) -> T:
    """Call the control plane, waiting out short outages (``RETRY_DELAYS_S``); if
    it stays unreachable, give the message back to the broker, which delivers it
    again later. Agents publish nothing, so a Celery retry (a new message) is
    not theirs to send."""
    for delay in RETRY_DELAYS_S:
        try:
            return call()
        except Unreachable as exc:
            # An unavailable control plane (503) says when to come again (Retry-After).
            pause_s = wait_s(exc, delay)
            log.info("%s: control plane unreachable, again in %s s: %s", what, pause_s, exc)
            time.sleep(pause_s)
    try:
        return call()
    except Unreachable as exc:
        log.warning("%s: control plane unreachable, handing the work back: %s", what, exc)
        raise Reject(str(exc), requeue=True) from exc


@app.task(**task_options(TaskName.ANALYSE))
def analyse(work_data: dict) -> None:
    """Run a unit of work and report its outcome to the control plane over HTTPS;
    hand it back to the broker when the agent says so (``HandBack``)."""
    global UNIT_STARTED
    UNIT_STARTED = time.monotonic()
    # Here, not at the pool process's start: billiard claims SIGUSR2 for its own
    # exit handler after worker_process_init.
    signal.signal(HAND_BACK_SIGNAL, _hand_back)
    try:
        serve_unit(work_data)
    except HandBack:
        held_s = time.monotonic() - UNIT_STARTED
        log.warning("job %s: handing the unit back after %.1f s, unfinished",
                    work_data.get("job_id"), held_s)
        raise Reject(f"handed back after {held_s:.1f} s", requeue=True) from None
    finally:
        UNIT_STARTED = None


def serve_unit(work_data: dict) -> None:
    ctx = CONTEXT
    if ctx is None:
        raise RuntimeError("the agent worker was started without its context")
    work = AnalysisWork.from_dict(work_data)
    what = f"job {work.job_id} segment {work.segment}"

    def report(status: OutcomeStatus, **fields) -> None:
        outcome = AnalysisOutcome(job_id=work.job_id, status=status, analyses=work.analyses,
                                  gpu_uuid=ctx.gpu_uuid, segment=work.segment, **fields)
        body = {**outcome.to_dict(), "ticket": work.ticket}
        try:
            patiently(lambda: ctx.control_plane.report(work.job_id, body), what)
        except ControlPlaneError as exc:
            log.error("%s: the control plane refused its outcome: %s", what, exc)

    if ctx.scope != Scope.LOCAL and work.confidentiality == "confidential":
        log.error("refusing confidential job %s on a %s agent", work.job_id, ctx.scope)
        report(OutcomeStatus.REFUSED, errors=(
            f"confidential job refused by {ctx.scope} agent {ctx.agent_id}: "
            "confidential media may only be analysed on local GPUs",))
        return
    try:
        wanted = patiently(lambda: ctx.control_plane.start_job(
            work.job_id, ctx.gpu_uuid, work.segment, work.analyses, work.ticket), what)
    except JobNotWanted as exc:
        log.info("%s is no longer wanted: %s", what, exc)
        return
    except ControlPlaneError as exc:
        # Not this agent's now (another holds it, or this agent's GPUs or queues changed):
        # back to the broker after a pause, for the agent it is meant for, not dropped.
        log.warning("%s: the control plane would not give it to this agent, handing it "
                    "back in %s s: %s", what, REFUSED_PAUSE_S, exc)
        time.sleep(REFUSED_PAUSE_S)
        raise Reject(str(exc), requeue=True) from exc
    if not wanted:
        log.info("%s is stored already: not redoing it", what)
        return
    log.info("job %s segment %s (%.1f-%s s): %s", work.job_id, work.segment, work.start_s,
             "end" if work.end_s is None else f"{work.end_s:.1f}", ", ".join(wanted))
    try:
        results, errors = analyse_unit(ctx, replace(work, analyses=tuple(wanted)))
    except JobNotWanted as exc:
        log.info("%s is no longer wanted: %s", what, exc)
        return
    except ControlPlaneError as exc:
        report(OutcomeStatus.DONE, errors=(str(exc),))
        return
    except SoftTimeLimitExceeded:
        # Out of time before any analysis ran (a download that would not end): say so,
        # rather than leave the job waiting for a unit that is gone.
        report(OutcomeStatus.DONE, errors=("the unit ran out of its time limit",))
        return
    report(OutcomeStatus.DONE, results=tuple(results), errors=tuple(errors))


def analyse_unit(ctx: AgentContext, work: AnalysisWork) -> tuple[list[ResultItem], list[str]]:
    """Fetch the media into a folder of its own, run the analyses, and delete it:
    nothing of the media outlives the unit."""
    cache = ModelCache(ctx.model_cache, ctx.control_plane) if ctx.model_cache else None
    with tempfile.TemporaryDirectory(prefix="aima-job-", dir=ctx.workdir) as tmp:
        media = patiently(lambda: ctx.control_plane.download_media(
            work.job_id, Path(tmp) / "media", work.sha256), f"job {work.job_id} media")
        return run_analyses(work, media, ctx.gpu_facts(), cache)


def die_with_parent() -> None:
    """Be killed when the process that started this one dies, however it died."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("PR_SET_PDEATHSIG failed (errno %s): a killed agent may leave this "
                    "process behind", ctypes.get_errno())


@worker_process_init.connect
def _pool_process_dies_with_its_worker(**_kwargs: object) -> None:
    # A pool process outliving a killed worker would run on with its task
    # while the broker gives the task to another agent.
    die_with_parent()


def _hand_back(_signum: int, _frame: object) -> None:
    # Between units there is nothing to give back.
    if UNIT_STARTED is not None:
        raise HandBack


def run_worker(context: AgentContext, queues: list[str], name: str, gpu_index: int = 0) -> None:
    """Consume ``queues`` until told to stop (SIGTERM: finish the task at hand)."""
    global CONTEXT
    CONTEXT = context
    app.worker_main([
        "worker", "--queues", ",".join(queues), "--concurrency", "1",
        # Unique on the broker even where two control planes' agents share a
        # name and id (their pidbox queues are exclusive).
        "--hostname", f"agent-{context.agent_id}-gpu{gpu_index}-{os.getpid()}@{name}",
        # Mingle and gossip only slow the start and add chatter on the broker.
        "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ])
