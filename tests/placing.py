"""Helpers for the placement tests: GPUs, price files and a job run up to its queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aima_web.fleet.models import LocalGPU
from aima_web.jobs.models import Job
from aima_web.jobs.tasks import place_task, probe_task

HEADER = ("provider,instance_type,gpu_name,gpu_count,vram_gb_per_gpu,vcpus,memory_gb,region,"
          "price_per_hour,spot_price_per_hour")
# A few rows in the snapshot format of shared/data/prices (same providers and prices).
PRICES = "\n".join([
    HEADER,
    "vastai,1x-RTX_4090,RTX4090,1,24,32,64,EU-ES,0.40,",
    "vastai,1x-H100_SXM,H100,1,80,32,64,NA-US,1.80,",
    "runpod,1x_A100-80GB_SECURE,A100-80GB,1,80,8,80,EU-NL,1.64,1.19",
    "lambda,gpu_1x_a6000,A6000,1,48,14,100,us-east-1,0.80,",
]) + "\n"


def write_prices(folder: Path, text: str = PRICES, name: str = "prices.csv") -> Path:
    """A price file written now, so that its prices count as fresh."""
    path = folder / name
    path.write_text(text)
    return path


def make_gpu(**fields: Any) -> LocalGPU:
    values: dict[str, Any] = {"model": "NVIDIA GeForce RTX 4090", "vram_gb": 24,
                              "cuda_version": "12.4", "host": "ws-17"}
    values.update(fields)
    gpu = LocalGPU(**values)
    gpu.full_clean()
    gpu.save()
    return gpu


def run_to_queue(job_id: str) -> Job:
    """Probe and place a submitted job in this process, as the control worker would."""
    # apply(): through Celery's own task tracing, which runs each step's failure policy.
    probe_task.apply(args=(job_id,))
    place_task.apply(args=(job_id,))
    return Job.objects.get(pk=job_id)
