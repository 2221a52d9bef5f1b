"""One Celery worker process per GPU, kept running by the agent process.

Each worker sees only its own GPU (``CUDA_VISIBLE_DEVICES`` set to the GPU's
UUID, which unlike an index means the same card to CUDA and NVML) and
consumes exactly the queues the topology gives that GPU. The agent process
passes SIGTERM on (each worker finishes the task at hand and stops), starts a
worker again that died, and takes its workers with it when it is killed
(``PR_SET_PDEATHSIG``), so that the broker redelivers what they held.

A GPU the control plane says should take no work (in maintenance, drained,
outside its availability window) has its worker stopped the same warm way,
and started again when it may take work again.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from agents.gpus import GpuInfo
from agents.worker import HAND_BACK_SIGNAL, AgentContext, die_with_parent, run_worker

log = logging.getLogger(__name__)

# A worker that died is started again after this long, so that one failing at
# start does not spin.
RESTART_DELAY_S = 5.0
# Between a warm stop (no more messages taken) and the hand-back of the units
# in progress: a unit handed back before its worker stopped consuming could
# come straight back to it.
HAND_BACK_AFTER_S = 1.0
# Workers still running this long after a hand-back are killed: the broker
# gives back what they held when their connection drops.
HAND_BACK_GRACE_S = 30.0


@dataclass(frozen=True)
class Serving:
    """The control plane's word on one GPU: take work now, or not, and why."""

    serve: bool
    reason: str = ""

    @classmethod
    def from_response(cls, body: Mapping[str, object]) -> dict[str, Serving]:
        """The ``gpus`` part of a registration or heartbeat answer, by GPU UUID."""
        gpus = body.get("gpus")
        if not isinstance(gpus, Mapping):
            return {}
        return {uuid: cls(serve=bool(told.get("serve", True)), reason=str(told.get("reason", "")))
                for uuid, told in gpus.items() if isinstance(told, Mapping)}


@dataclass(frozen=True)
class GpuWork:
    gpu: GpuInfo
    queues: tuple[str, ...]


def serve_gpu(context: AgentContext, work: GpuWork, host: str, parent: int) -> None:
    """A worker process's life: its GPU only, its queues only."""
    die_with_parent()
    if os.getppid() != parent:  # the agent died before the line above took effect
        os._exit(1)
    if not work.gpu.simulated:
        os.environ["CUDA_VISIBLE_DEVICES"] = work.gpu.uuid
    run_worker(context, list(work.queues), host, work.gpu.index)


class Workers:
    """The worker processes of one agent, by GPU index."""

    def __init__(self, context: AgentContext, works: list[GpuWork], host: str):
        self.context = context
        self.works = {work.gpu.index: work for work in works}
        self.host = host
        # Spawned, not forked: the agent process runs a heartbeat thread, and
        # a fork taken while it holds a lock would inherit the lock held.
        self.mp = multiprocessing.get_context("spawn")
        self.processes: dict[int, BaseProcess] = {}
        self.restart_at: dict[int, float] = {}
        self.stopping = False
        # Which GPUs should take work, as the control plane last said
        # (maintenance, availability windows); written by the heartbeat thread.
        self.wanted: dict[int, bool] = dict.fromkeys(self.works, True)
        self.paused: set[int] = set()
        # After a hand-back: when the workers still running are killed (monotonic).
        self.kill_at: float | None = None

    def start(self, index: int) -> None:
        work = self.works[index]
        process = self.mp.Process(
            target=serve_gpu, name=f"gpu{index}",
            args=(replace(self.context, gpu_uuid=work.gpu.uuid, gpu_vram_gb=work.gpu.vram_gb,
                          gpu_simulated=work.gpu.simulated), work, self.host, os.getpid()))
        process.start()
        self.processes[index] = process
        self.restart_at.pop(index, None)
        log.info("worker for GPU %s (%s) started as pid %s on %s", index, work.gpu.model,
                 process.pid, ", ".join(work.queues))

    def follow(self, serving: Mapping[str, Serving]) -> None:
        """Take the control plane's word on which GPUs take work now."""
        for index, work in self.works.items():
            told = serving.get(work.gpu.uuid)
            if told is not None and told.serve != self.wanted[index]:
                log.info("GPU %s %s: %s", index,
                         "takes work again" if told.serve else "takes no more work",
                         told.reason or "as the control plane says")
                self.wanted[index] = told.serve

    def stop(self, signum: int = signal.SIGTERM, _frame: object = None) -> None:
        """Ask every worker to finish the task at hand and stop."""
        self.stopping = True
        for process in self.processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    def hand_back(self) -> None:
        """Take no more work and give the units in progress back to the broker at
        once (their analyses abandoned): the host is about to go. Blocks about
        ``HAND_BACK_AFTER_S``; ``run`` returns once every worker has ended."""
        self.stop()
        time.sleep(HAND_BACK_AFTER_S)
        for process in list(self.processes.values()):
            if process.pid is None:
                continue
            # The unit runs in the worker's pool process, a child of the worker.
            for pid in descendants(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, HAND_BACK_SIGNAL)
        self.kill_at = time.monotonic() + HAND_BACK_GRACE_S

    def run(self) -> None:
        """Start a worker per GPU that should take work, and watch them until
        all stopped after a stop()."""
        for index in self.works:
            if self.wanted[index]:
                self.start(index)
            else:
                self.paused.add(index)
        while True:
            alive = [p for p in self.processes.values() if p.is_alive()]
            if self.stopping and not alive:
                return
            if self.kill_at is not None and time.monotonic() >= self.kill_at:
                for process in alive:
                    log.warning("worker %s did not stop after the hand-back: killing it",
                                process.name)
                    process.kill()
                self.kill_at = None
            if not self.stopping:
                self.pause_and_resume()
                self.restart_dead()
            wait([p.sentinel for p in alive], timeout=0.5)

    def pause_and_resume(self) -> None:
        """A GPU that should take no work finishes its task and stops (SIGTERM:
        a warm shutdown); one that should again gets its worker back."""
        for index in self.works:
            process = self.processes.get(index)
            alive = process is not None and process.is_alive()
            if not self.wanted[index] and index not in self.paused:
                self.paused.add(index)
                if alive and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)
            elif self.wanted[index] and index in self.paused and not alive:
                self.paused.discard(index)
                self.start(index)

    def restart_dead(self) -> None:
        now = time.monotonic()
        for index, process in list(self.processes.items()):
            if process.is_alive() or index in self.paused:
                continue
            if index not in self.restart_at:
                log.warning("worker for GPU %s exited with code %s; starting it again in %g s",
                            index, process.exitcode, RESTART_DELAY_S)
                self.restart_at[index] = now + RESTART_DELAY_S
            elif now >= self.restart_at[index]:
                del self.restart_at[index]
                self.start(index)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from Linux's /proc (children per thread)."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                found += [int(child), *descendants(int(child))]
    return found
