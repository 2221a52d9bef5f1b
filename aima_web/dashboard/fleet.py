"""The dashboard's GPU table: every GPU in service with its latest heartbeat
sample and the job running on it, local GPUs by row and live cloud instances by
row, and the local and cloud utilisation the bars show.

The GPUs and their latest samples are the ones /metrics exports
(aima_web.monitoring.fleet): one query for the GPUs with the id of their newest
sample, one for those samples, one for the live instances, two for the
running jobs (and the units GPUs hold of them); progress is read for the
running jobs only, which are bounded by the GPUs that run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from aima_tasks.kernel.routing import Scope
from aima_web.fleet.models import Assignment, GpuTelemetry, LocalGPU
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.states import ENDED
from aima_web.jobs import progress
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.monitoring import fleet as series

# A fleet larger than this is more than one page can show; the rest are counted.
MAX_ROWS = 200
BUSY = InstanceState.BUSY.value


@dataclass(frozen=True)
class CurrentJob:
    job_id: str
    media_name: str
    # 0..1, and seconds until it is expected to finish (None: unknown).
    fraction: float
    eta_seconds: float | None

    @property
    def percent(self) -> float:
        return round(self.fraction * 100, 1)


@dataclass(frozen=True)
class GpuRow:
    # One of the two is set: a local GPU's id, or a cloud instance's.
    gpu_id: int | None
    instance_id: int | None
    name: str
    model: str
    host: str
    provider: str
    status: str
    heard: bool
    utilisation_pct: float | None
    memory_used_gb: float | None
    memory_total_gb: float | None
    temperature_c: float | None
    power_w: float | None
    job: CurrentJob | None
    price_per_hour: float | None = None


@dataclass(frozen=True)
class Utilisation:
    """Mean utilisation of the GPUs that reported one (None: none did)."""

    pct: float | None
    reporting: int
    gpus: int

    @property
    def width(self) -> int:
        """The bar's width in whole percent, 0..100."""
        return max(0, min(100, round(self.pct or 0.0)))


@dataclass(frozen=True)
class Fleet:
    local: list[GpuRow]
    cloud: list[GpuRow]
    # GPUs and instances beyond MAX_ROWS, not shown.
    hidden: int

    @property
    def local_utilisation(self) -> Utilisation:
        return utilisation(self.local)

    @property
    def cloud_utilisation(self) -> Utilisation:
        """Cloud agents report no GPU figures (aima_web.fleet.telemetry keeps
        none for rented GPUs): an instance counts as used while it runs a job."""
        busy = sum(1 for row in self.cloud if row.job is not None or row.status == BUSY)
        pct = 100.0 * busy / len(self.cloud) if self.cloud else None
        return Utilisation(pct=pct, reporting=busy, gpus=len(self.cloud))


def utilisation(rows: list[GpuRow]) -> Utilisation:
    figures = [row.utilisation_pct for row in rows if row.utilisation_pct is not None]
    mean = sum(figures) / len(figures) if figures else None
    return Utilisation(pct=mean, reporting=len(figures), gpus=len(rows))


def fleet(now: datetime) -> Fleet:
    # The same GPUs and the same "latest sample" as /metrics (retired ones and
    # those of ended instances left out).
    gpus = list(series.gpus_in_service()[:MAX_ROWS + 1])
    samples = GpuTelemetry.objects.in_bulk([g.latest_id for g in gpus if g.latest_id])
    instances = list(CloudInstance.objects.exclude(state__in=ENDED)
                     .select_related("agent").order_by("-requested_at")[:MAX_ROWS + 1])
    hidden = max(len(gpus) - MAX_ROWS, 0) + max(len(instances) - MAX_ROWS, 0)
    gpus, instances = gpus[:MAX_ROWS], instances[:MAX_ROWS]
    jobs = running_jobs([g.pk for g in gpus], [i.agent_id for i in instances if i.agent_id], now)
    local = [_gpu_row(gpu, samples.get(gpu.latest_id), jobs) for gpu in gpus
             if series.gpu_labels(gpu)[3] == Scope.LOCAL]
    # A cloud GPU is shown on its instance's row: the sample of its (first) GPU.
    cloud_gpus: dict[int, LocalGPU] = {}
    for gpu in gpus:
        if gpu.agent_id is not None and gpu.agent.scope == Scope.CLOUD:
            cloud_gpus.setdefault(gpu.agent_id, gpu)
    cloud = []
    for instance in instances:
        gpu = cloud_gpus.get(instance.agent_id) if instance.agent_id else None
        sample = samples.get(gpu.latest_id) if gpu is not None else None
        cloud.append(_instance_row(instance, gpu, sample, jobs))
    return Fleet(local=local, cloud=cloud, hidden=hidden)


def running_jobs(gpu_ids: list[int], agent_ids: list[int],
                 now: datetime) -> dict[tuple[str, int], CurrentJob]:
    """Running jobs by ("gpu", id) and by ("agent", id): a cloud instance's
    job need not name a GPU. A job cut into segments runs on several GPUs at
    once and names the last to start one: the others hold its units
    (fleet.Assignment), the latest unit they took counts."""
    held = list(Assignment.objects.filter(job__state=JobState.RUNNING, gpu_id__in=gpu_ids)
                .order_by("-assigned_at").values_list("gpu_id", "job_id")[:2 * MAX_ROWS])
    rows = (Job.objects.filter(state=JobState.RUNNING)
            .filter(Q(gpu_id__in=gpu_ids) | Q(agent_id__in=agent_ids)
                    | Q(pk__in={job_id for _, job_id in held}))
            .select_related("media").order_by("running_at")[:2 * MAX_ROWS])
    found: dict[tuple[str, int], CurrentJob] = {}
    by_id: dict = {}
    for job in rows:
        shown = progress.of(job, now)
        current = by_id[job.pk] = CurrentJob(
            job_id=str(job.pk), media_name=job.media_name,
            fraction=float(shown.get("fraction") or 0.0), eta_seconds=shown.get("eta_seconds"))
        if job.gpu_id is not None:
            found.setdefault(("gpu", job.gpu_id), current)
        if job.agent_id is not None:
            found.setdefault(("agent", job.agent_id), current)
    for gpu_id, job_id in held:
        if job_id in by_id:
            found.setdefault(("gpu", gpu_id), by_id[job_id])
    return found


def _figures(sample: GpuTelemetry | None, gpu: LocalGPU | None) -> dict:
    if sample is None:
        return dict(utilisation_pct=None, memory_used_gb=None,
                    memory_total_gb=gpu.vram_gb if gpu else None,
                    temperature_c=None, power_w=None)
    total = sample.memory_total_gb or (gpu.vram_gb if gpu else None)
    return dict(utilisation_pct=sample.utilization_pct, memory_used_gb=sample.memory_used_gb,
                memory_total_gb=total, temperature_c=sample.temperature_c,
                power_w=sample.power_w)


def _gpu_row(gpu: LocalGPU, sample: GpuTelemetry | None,
             jobs: dict[tuple[str, int], CurrentJob]) -> GpuRow:
    return GpuRow(gpu_id=gpu.pk, instance_id=None, name=f"#{gpu.pk}", model=gpu.model,
                  host=gpu.host, provider="", status=gpu.status,
                  heard=bool(gpu.agent and gpu.agent.online),
                  job=jobs.get(("gpu", gpu.pk)), **_figures(sample, gpu))


def _instance_row(instance: CloudInstance, gpu: LocalGPU | None,
                  sample: GpuTelemetry | None,
                  jobs: dict[tuple[str, int], CurrentJob]) -> GpuRow:
    job = jobs.get(("gpu", gpu.pk)) if gpu is not None else None
    if job is None and instance.agent_id is not None:
        job = jobs.get(("agent", instance.agent_id))
    return GpuRow(gpu_id=None, instance_id=instance.pk, name=instance.name,
                  model=instance.gpu_model or (gpu.model if gpu else ""),
                  host=instance.region, provider=instance.provider, status=instance.state,
                  heard=bool(instance.agent and instance.agent.online), job=job,
                  price_per_hour=instance.price_per_hour, **_figures(sample, gpu))
