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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from celery.signals import worker_process_init

from agents import analyzers
from agents.control_plane import ControlPlane, ControlPlaneError, JobNotWanted, Unreachable
from aima_tasks.celery_config import make_app
from aima_tasks.routing import Scope, TaskName
from aima_tasks.work import AnalysisOutcome, AnalysisWork, OutcomeStatus, ResultItem

log = logging.getLogger(__name__)

app = make_app("aima-agent")

MAX_RETRIES = 5
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class AgentContext:
    control_plane: ControlPlane
    agent_id: int
    scope: Scope
    gpu_uuid: str
    workdir: Path


CONTEXT: AgentContext | None = None


def now() -> str:
    return datetime.now(UTC).isoformat()


def run_analyses(work: AnalysisWork, media: Path) -> tuple[list[ResultItem], list[str]]:
    results, errors = [], []
    for name in work.analyses:
        started = now()
        try:
            data = analyzers.run(name, media)
        except Exception as exc:  # one analysis failing must not hide the others' results
            log.exception("analysis %s of job %s failed", name, work.job_id)
            errors.append(f"{name}: {exc}")
            continue
        results.append(ResultItem(analysis=name, data=data, started_at=started,
                                  finished_at=now()))
    return results, errors


@app.task(name=TaskName.ANALYSE.value, bind=True, max_retries=MAX_RETRIES)
def analyse(self, work_data: dict) -> dict:
    ctx = CONTEXT
    if ctx is None:
        raise RuntimeError("the agent worker was started without its context")
    work = AnalysisWork.from_dict(work_data)

    def outcome(status: OutcomeStatus, **fields) -> dict:
        return AnalysisOutcome(job_id=work.job_id, status=status, agent_id=ctx.agent_id,
                               gpu_uuid=ctx.gpu_uuid, **fields).to_dict()

    if ctx.scope != Scope.LOCAL and work.confidentiality == "confidential":
        log.error("refusing confidential job %s on a %s agent", work.job_id, ctx.scope)
        return outcome(OutcomeStatus.REFUSED, errors=(
            f"confidential job refused by {ctx.scope} agent {ctx.agent_id}: "
            "confidential media may only be analysed on local GPUs",))
    try:
        ctx.control_plane.start_job(work.job_id, ctx.gpu_uuid)
        with tempfile.TemporaryDirectory(prefix="aima-job-", dir=ctx.workdir) as tmp:
            media = ctx.control_plane.download_media(work.job_id, Path(tmp) / "media",
                                                     work.sha256)
            results, errors = run_analyses(work, media)
        # The temporary media is gone with the folder: nothing outlives the job.
    except JobNotWanted as exc:
        log.info("job %s is no longer wanted: %s", work.job_id, exc)
        return outcome(OutcomeStatus.SKIPPED)
    except Unreachable as exc:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
        return outcome(OutcomeStatus.DONE, errors=(f"control plane unreachable: {exc}",))
    except ControlPlaneError as exc:
        return outcome(OutcomeStatus.DONE, errors=(str(exc),))
    return outcome(OutcomeStatus.DONE, results=tuple(results), errors=tuple(errors))


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
