"""Bringing an agent up: find its GPU, enrol, keep a heartbeat, serve its queues."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from agents import compute, identity, nvml, preemption, telemetry
from agents.benchmark import analyzer_profile
from agents.control_plane import (
    ControlPlane,
    ControlPlaneError,
    Enrolled,
    Refused,
    Unreachable,
    wait_s,
)
from agents.gpus import GpuInfo, simulated
from agents.self_shutdown import Contact, SelfShutdown
from agents.supervisor import GpuWork, Serving, Workers
from agents.worker import AgentContext
from aima_tasks.kernel.analyses import MIN_CUDA
from aima_tasks.kernel.routing import GPU_CLASSES, VRAM_TOLERANCE, Scope, queues_served

log = logging.getLogger(__name__)

VERSION = "0.1.0"
COMPUTE_TIMEOUT_S = 300
# Between registrations of a rented host whose control plane does not answer.
REGISTER_AGAIN_S = 10.0
# How long a preempted agent waits, its workers gone, to have told the control plane.
TELL_PREEMPTION_S = 30


@dataclass(frozen=True)
class AgentConfig:
    control_plane_url: str
    # The enrollment token; empty once the agent holds a credential of its own.
    token: str
    simulate_gpu: str | None
    name: str
    location: str
    heartbeat_s: float
    workdir: Path
    # Verified model files fetched from the registry; shared by the host's GPU workers.
    model_cache: Path | None = None
    # None: benchmark when the GPUs are real, not when simulated.
    benchmark: bool | None = None
    # CA bundle to verify the control plane's TLS certificate with; None: the system's.
    ca_bundle: str | None = None


class StartupError(RuntimeError):
    """The agent cannot start; the message says what to fix."""


def find_gpus(config: AgentConfig) -> list[GpuInfo]:
    if config.simulate_gpu:
        return simulated(config.simulate_gpu, config.name)
    try:
        gpus = nvml.detect()
    except nvml.NoDriver as exc:
        raise StartupError(
            f"{exc}; run on a host with an NVIDIA GPU, or pass --simulate-gpu NAME:VRAM_GB "
            "to run without one (shown as simulated everywhere)") from None
    if not gpus:
        raise StartupError("NVML found no GPU on this host")
    return gpus


def plan_work(scope: Scope, gpus: list[GpuInfo],
              allowed: Collection[str] | None = None) -> list[GpuWork]:
    """What each GPU serves in the scope the control plane gave the agent; a GPU
    that can serve no queue is left idle, said why."""
    works = []
    for gpu in gpus:
        # Only the queues the control plane gave this agent: a cloud instance's
        # broker user may read its own class's queue and no other.
        queues = [queue for queue in queues_served(scope, gpu.vram_gb, gpu.cuda_version)
                  if allowed is None or queue in allowed]
        if queues:
            works.append(GpuWork(gpu=gpu, queues=tuple(queues)))
        else:
            log.warning("GPU %s (%s, %g GB VRAM, CUDA %s) can serve no queue: it needs at "
                        "least %g GB and CUDA %s", gpu.index, gpu.model, gpu.vram_gb,
                        gpu.cuda_version, GPU_CLASSES[0] * VRAM_TOLERANCE, MIN_CUDA)
    if not works:
        raise StartupError("no GPU of this host can serve any queue: "
                           + "; ".join(f"{g.model} has {g.vram_gb:g} GB VRAM and CUDA "
                                       f"{g.cuda_version}" for g in gpus)
                           + f" (the smallest GPU class is {GPU_CLASSES[0]} GB; CUDA must be "
                             f"{MIN_CUDA} or newer)")
    return works


def compute_benchmark(gpu: GpuInfo) -> dict | None:
    """FP32/FP16 TFLOPS and memory GB/s of one GPU, measured in a process that
    sees only that GPU; a simulated GPU's are this host's CPU's, and say so.
    A benchmark that fails (a CUDA library the host's driver cannot load)
    costs the figures, not the agent: None, with a warning."""
    if gpu.simulated:
        return compute.measure(on="cpu").to_report()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu.uuid}
    try:
        done = subprocess.run([sys.executable, "-m", "agents.compute"], env=env,
                              capture_output=True, text=True, timeout=COMPUTE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("benchmarking GPU %s (%s) took over %s s; registering without its "
                    "compute figures", gpu.index, gpu.model, COMPUTE_TIMEOUT_S)
        return None
    if done.returncode != 0:
        log.warning("benchmarking GPU %s (%s) failed; registering without its compute "
                    "figures: %s", gpu.index, gpu.model, done.stderr.strip()[-500:])
        return None
    result = json.loads(done.stdout)
    log.info("GPU %s (%s): %s", gpu.index, gpu.model, result)
    return result


def heartbeat_loop(control_plane: ControlPlane, gpus: list[GpuInfo], workers: Workers,
                   every_s: float, stop: threading.Event, contact: Contact | None = None,
                   on_lost: Callable[[], None] = lambda: None) -> None:
    """Report in with each GPU's telemetry, and follow the answer on which
    GPUs take work (maintenance, availability windows, a failed GPU). With a
    ``contact``: once the control plane has not answered for its time, call
    ``on_lost`` and stop."""
    sampler = telemetry.Sampler(gpus)  # XID events are watched from now on
    pause_s = every_s
    while not stop.wait(pause_s):
        pause_s = every_s
        # A GPU NVML cannot read reports its error in its sample.
        samples = [sample.to_report() for sample in sampler.collect()]
        try:
            answer = control_plane.heartbeat(samples)
        except ControlPlaneError as exc:
            log.warning("heartbeat failed: %s", exc)
            # An unavailable control plane (503) says when to come again: sooner or later.
            pause_s = wait_s(exc, every_s)
            if contact is not None and contact.lost():
                log.critical("no answer from the control plane for %.0f s", contact.silent_s())
                on_lost()
                return
            continue
        if contact is not None:
            contact.answered()
        workers.follow(Serving.from_response(answer))


@dataclass
class HostEnd:
    """How a cloud agent's host may end early: the agent ends it itself after
    losing the control plane, or its provider preempts it."""

    shutdown: SelfShutdown | None
    notices: preemption.Notices | None
    poll_s: float = preemption.POLL_S
    # Set once the agent decided to end its own instance.
    ending: threading.Event = field(default_factory=threading.Event)
    # Set once a preemption notice was handled (told to the control plane, or not).
    told: threading.Event = field(default_factory=threading.Event)
    noticed: bool = False

    @classmethod
    def of(cls, scope: Scope) -> HostEnd:
        if scope != Scope.CLOUD:
            return cls(None, None)
        try:
            return cls(SelfShutdown.from_env(os.environ), preemption.from_env(os.environ),
                       preemption.poll_every_s(os.environ))
        except ValueError as exc:
            raise StartupError(str(exc)) from None

    def lose_control_plane(self, workers: Workers) -> None:
        self.ending.set()
        workers.hand_back()

    def preempted(self, control_plane: ControlPlane, workers: Workers,
                  notice: preemption.Notice) -> None:
        """Take no more work, give the units in progress back, and say so: the
        control plane passes them to the next host at once (also one this
        agent took again meanwhile) and ends this one."""
        self.noticed = True
        try:
            workers.hand_back()
            answer = control_plane.preempted(notice.to_report())
            log.info("the control plane took back %s unit(s)",
                     len(answer.get("handed_back", [])))
        except ControlPlaneError as exc:
            log.error("could not tell the control plane of the preemption: %s", exc)
        finally:
            self.told.set()

    def start_watch(self, control_plane: ControlPlane, workers: Workers,
                    stop: threading.Event) -> None:
        if self.notices is None:
            return
        notices = self.notices
        threading.Thread(target=preemption.watch, name="preemption", daemon=True, args=(
            notices, lambda notice: self.preempted(control_plane, workers, notice),
            stop, self.poll_s)).start()

    def finish(self) -> None:
        """After the workers ended: end the instance if the agent decided to."""
        if self.noticed:
            self.told.wait(TELL_PREEMPTION_S)
        if self.ending.is_set() and self.shutdown is not None:
            raise SystemExit(self.shutdown.end_instance())


def run(config: AgentConfig) -> None:
    gpus = find_gpus(config)
    # Refuse hardware that can serve nothing before enrolling (and spending a token).
    plan_work(Scope.LOCAL, gpus)
    control_plane = ControlPlane(config.control_plane_url, ca_bundle=config.ca_bundle)
    reports = [gpu.to_report() for gpu in gpus]
    # A simulated GPU's figures would be this CPU's, not a GPU's: not unless asked.
    benchmark = config.benchmark
    if benchmark is None:
        benchmark = not any(gpu.simulated for gpu in gpus)
    if benchmark:
        profile = analyzer_profile(config.workdir)
        reports = [{**report, "performance_profile": profile,
                    "compute_benchmark": compute_benchmark(gpu)}
                   for report, gpu in zip(reports, gpus, strict=True)]
    report = {"name": config.name, "version": VERSION, "location": config.location,
              "gpus": reports}
    enrolled = enrol_or_end(config, control_plane, report, gpus)
    scope = Scope(enrolled.scope)
    works = plan_work(scope, gpus, enrolled.queues)
    for work in works:
        log.info("registered as %s agent %s; GPU %s: %s%s serves %s", scope, enrolled.agent_id,
                 work.gpu.index, work.gpu.model, " (simulated)" if work.gpu.simulated else "",
                 ", ".join(work.queues))

    config.workdir.mkdir(parents=True, exist_ok=True)
    context = AgentContext(control_plane=control_plane, agent_id=enrolled.agent_id,
                           scope=scope, gpu_uuid="", workdir=config.workdir,
                           model_cache=config.model_cache or config.workdir / "models",
                           fp16_gains=fp16_gains(gpus, reports))
    workers = Workers(context, works, config.name)
    workers.follow(Serving.from_response(enrolled.answer))
    signal.signal(signal.SIGTERM, workers.stop)
    signal.signal(signal.SIGINT, workers.stop)
    stop = threading.Event()
    host = HostEnd.of(scope)
    contact = Contact(host.shutdown.after_s) if host.shutdown else None
    beat = threading.Thread(target=heartbeat_loop, name="heartbeat", daemon=True,
                            args=(control_plane, gpus, workers, config.heartbeat_s, stop,
                                  contact, lambda: host.lose_control_plane(workers)))
    beat.start()
    host.start_watch(control_plane, workers, stop)
    try:
        workers.run()
    finally:
        stop.set()
    host.finish()


def enrol_or_end(config: AgentConfig, control_plane: ControlPlane, report: dict,
                 gpus: list[GpuInfo]) -> Enrolled:
    """Enrol; a rented host (one its provider says how to end) whose control
    plane does not answer asks again until its self-shutdown time, then ends
    itself: a host that boots after its control plane died must not run on."""
    try:
        shutdown = SelfShutdown.from_env(os.environ)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    contact = Contact(shutdown.after_s) if shutdown else None
    while True:
        try:
            return enrol(config, control_plane, report, gpus)
        except Unreachable as exc:
            if shutdown is None or contact is None:
                raise StartupError(f"could not register with {config.control_plane_url}: "
                                   f"{exc}") from None
            if contact.lost():
                raise SystemExit(shutdown.end_instance()) from None
            log.warning("registering: the control plane does not answer, again in %g s: %s",
                        REGISTER_AGAIN_S, exc)
            time.sleep(min(REGISTER_AGAIN_S, shutdown.after_s))


def enrol(config: AgentConfig, control_plane: ControlPlane, report: dict,
          gpus: list[GpuInfo]) -> Enrolled:
    """Register again with the credential this agent kept from an earlier start
    (it keeps its identity), else enrol with the token; keep the new credential."""
    kept = identity.load(config.workdir, config.control_plane_url, config.name, gpus)
    if kept:
        control_plane.credential = kept
        try:
            enrolled = control_plane.register(report)
        except Refused as exc:
            if not config.token:
                raise StartupError(f"the control plane no longer knows this agent ({exc}); "
                                   "give it a new enrollment token") from None
            log.warning("the kept credential was refused (%s); enrolling with the token", exc)
        except Unreachable:
            raise
        except ControlPlaneError as exc:
            raise StartupError(
                f"could not register with {config.control_plane_url}: {exc}") from None
        else:
            identity.save(config.workdir, config.control_plane_url, config.name, gpus,
                          enrolled.credential)
            return enrolled
    if not config.token:
        raise StartupError("no enrollment token: set AIMA_AGENT_TOKEN or --token-file (made "
                           "with `manage.py aima_enroll`); after the first start the agent "
                           f"keeps a credential of its own under {config.workdir}")
    try:
        enrolled = control_plane.register(report, token=config.token)
    except Unreachable:
        raise
    except ControlPlaneError as exc:
        raise StartupError(f"could not register with {config.control_plane_url}: {exc}") from None
    identity.save(config.workdir, config.control_plane_url, config.name, gpus,
                  enrolled.credential)
    return enrolled


def fp16_gains(gpus: list[GpuInfo], reports: list[dict]) -> dict[str, float]:
    """FP16 over FP32 throughput per benchmarked GPU: whether half precision pays there."""
    gains = {}
    for gpu, report in zip(gpus, reports, strict=True):
        figures = report.get("compute_benchmark") or {}
        if figures.get("device") == "cuda" and figures.get("fp32_tflops"):
            gains[gpu.uuid] = figures["fp16_tflops"] / figures["fp32_tflops"]
    return gains


def default_name() -> str:
    return socket.gethostname()
