"""Helpers for tests that act as agents over the API: enrol, authenticate, and
take the units of work the control plane sent, from the broker, as an agent's
worker receives them (with their tickets)."""

from __future__ import annotations

from pathlib import Path

from rest_framework.test import APIClient

from agents.control_plane import ControlPlane
from agents.model_cache import ModelCache
from aima_tasks.kernel.routing import Scope
from aima_tasks.kernel.work import AnalysisWork
from aima_tasks.topology import declared_queues
from aima_web.celery import app
from aima_web.fleet.services import create_enrollment_token

GPU = {"uuid": "GPU-1234", "model": "NVIDIA RTX A5000", "vram_gb": 24, "cuda_version": "12.4"}


def registered_model_cache(url: str, root: Path, scope: str = "local") -> ModelCache:
    """The model cache of an agent host registered at ``url`` with a fresh token of
    ``scope``: it fetches registry artifacts as a real agent does."""
    _, token = create_enrollment_token("t", scope=Scope(scope))
    client = ControlPlane(url)
    client.register({"name": "host-1", "gpus": [
        {"uuid": "GPU-1", "model": "A10", "vram_gb": 24, "cuda_version": "12.4"}]}, token=token)
    return ModelCache(root, client)


def enroll(scope: str = "local", gpus: list[dict] | None = None, name: str = "gpu-host-1",
           claim: str | None = None):
    """Register a new agent with a fresh token of ``scope``; ``claim`` is the
    scope the agent asks for (None: it asks for none)."""
    _, secret = create_enrollment_token("test", scope=Scope(scope))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = {"name": name, "gpus": gpus or [GPU]}
    if claim is not None:
        body["scope"] = claim
    return client.post("/api/v1/agents/register/", body, format="json")


def reregister(credential: str, gpus: list[dict] | None = None, name: str = "gpu-host-1"):
    """An enrolled agent registering again (a restart) with its own credential."""
    return as_agent(credential).post("/api/v1/agents/register/",
                                     {"name": name, "gpus": gpus or [GPU]}, format="json")


def as_agent(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {credential}")
    return client


def taken_off(queue: str) -> list[tuple[str, list]]:
    """Every message waiting on ``queue`` (task name, arguments), taken off it."""
    [declared] = [q for q in declared_queues() if q.name == queue]
    found = []
    with app.connection_for_read() as connection:
        inbox = connection.SimpleQueue(declared, no_ack=True)
        try:
            while True:
                try:
                    message = inbox.get(timeout=0.5)
                except inbox.Empty:
                    break
                args, _kwargs, _embed = message.decode()
                found.append((message.headers["task"], args))
        finally:
            inbox.close()
    return found


def delivered(job_id: str, queue: str) -> list[AnalysisWork]:
    """The units of ``job_id`` waiting on ``queue``, taken off it as a worker would.
    Other messages found there (left by earlier tests) are taken off too."""
    units = (AnalysisWork.from_dict(args[0]) for _task, args in taken_off(queue))
    return [work for work in units if work.job_id == job_id]


def start_body(work: AnalysisWork, gpu_uuid: str = "", **changes: object) -> dict:
    return {"segment": work.segment, "analyses": list(work.analyses), "ticket": work.ticket,
            "gpu_uuid": gpu_uuid, **changes}


def result_body(work: AnalysisWork, data: dict | None = None, **changes: object) -> dict:
    """A unit's outcome as an agent reports it: every analysis done, with ``data``."""
    results = [{"analysis": name, "data": data if data is not None else {"value": name},
                "started_at": "2026-12-01T10:00:00+00:00",
                "finished_at": "2026-12-01T10:00:01+00:00"} for name in work.analyses]
    return {"status": "done", "segment": work.segment, "analyses": list(work.analyses),
            "ticket": work.ticket, "results": results, **changes}
