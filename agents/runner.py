"""Bringing an agent up: find its GPU, enrol, keep a heartbeat, serve its queues."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from agents import nvml
from agents.control_plane import ControlPlane, ControlPlaneError
from agents.gpus import GpuInfo, simulated
from agents.worker import AgentContext, run_worker
from aima_tasks.routing import Scope, queues_served

log = logging.getLogger(__name__)

VERSION = "0.1.0"


@dataclass(frozen=True)
class AgentConfig:
    control_plane_url: str
    token: str
    scope: Scope
    simulate_gpu: str | None
    name: str
    location: str
    heartbeat_s: float
    workdir: Path


class StartupError(RuntimeError):
    """The agent cannot start; the message says what to fix."""


def find_gpu(config: AgentConfig) -> GpuInfo:
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
    # One worker per GPU is the agent issue's work; until then, the first GPU.
    return gpus[0]


def heartbeat_loop(control_plane: ControlPlane, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        try:
            control_plane.heartbeat()
        except ControlPlaneError as exc:
            log.warning("heartbeat failed: %s", exc)


def run(config: AgentConfig) -> None:
    gpu = find_gpu(config)
    queues = queues_served(config.scope, gpu.vram_gb)
    if not queues:
        raise StartupError(f"{gpu.model} has {gpu.vram_gb:g} GB VRAM: too little for any "
                           "GPU class, so there is no queue it could serve")
    control_plane = ControlPlane(config.control_plane_url)
    report = {"name": config.name, "scope": config.scope.value, "version": VERSION,
              "location": config.location, "gpus": [gpu.to_report()]}
    try:
        enrolled = control_plane.register(config.token, report)
    except ControlPlaneError as exc:
        raise StartupError(f"could not register with {config.control_plane_url}: {exc}") from None
    log.info("registered as agent %s with %s%s; serving %s", enrolled.agent_id, gpu.model,
             " (simulated)" if gpu.simulated else "", ", ".join(queues))

    stop = threading.Event()
    beat = threading.Thread(target=heartbeat_loop, name="heartbeat", daemon=True,
                            args=(control_plane, config.heartbeat_s, stop))
    beat.start()
    config.workdir.mkdir(parents=True, exist_ok=True)
    context = AgentContext(control_plane=control_plane, agent_id=enrolled.agent_id,
                           scope=config.scope, gpu_uuid=gpu.uuid, workdir=config.workdir)
    try:
        run_worker(context, queues, config.name)
    finally:
        stop.set()


def default_name() -> str:
    return socket.gethostname()
