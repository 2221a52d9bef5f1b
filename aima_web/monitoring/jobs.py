"""Job series: jobs by state and analysis, ended jobs, how long each stage
took, and the placement decisions stored on the jobs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import Metric

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.routing import CONTROL_QUEUE, Scope
from aima_web.jobs.models import Job
from aima_web.jobs.states import TERMINAL, JobState
from aima_web.monitoring.families import STAGE_BUCKETS, counter, gauge, histogram

# Stage -> (stamp it starts at, stamp it ends at): a stage counts once both are set.
STAGES: dict[str, tuple[str, str]] = {
    "probing": ("probing_at", "placing_at"),
    "placing": ("placing_at", "queued_at"),
    "queued": ("queued_at", "running_at"),
    "running": ("running_at", "finished_at"),
    "total": ("created_at", "finished_at"),
}


def state_families() -> Iterator[Metric]:
    counts = dict(Job.objects.order_by().values_list("state").annotate(n=Count("pk")))
    jobs, finished = gauge("aima_jobs"), counter("aima_jobs_finished_total")
    for state in JobState:
        jobs.add_metric([state.value], counts.get(state.value, 0))
        if state in TERMINAL:
            finished.add_metric([state.value], counts.get(state.value, 0))
    yield jobs
    yield finished


def analysis_family() -> Metric:
    """Each job counts once per analysis it runs: the analyses placement
    settled on, or before placement the ones asked for."""
    counts: Counter[tuple[str, str]] = Counter()
    rows = Job.objects.order_by().values_list("state", "analyses", "requested_analyses")
    for state, settled, requested in rows.iterator():
        for name in settled or requested or ():
            counts[(state, name)] += 1
    family = gauge("aima_job_analyses")
    names = set(catalogue().specs) | {name for _, name in counts}
    for state in JobState:
        for name in sorted(names):
            family.add_metric([state.value, name], counts[(state.value, name)])
    return family


def stage_family() -> Metric:
    stamps = sorted({field for pair in STAGES.values() for field in pair})
    observed: dict[tuple[str, ...], list[float]] = {(stage,): [] for stage in STAGES}
    for row in Job.objects.order_by().values(*stamps).iterator():
        for stage, (start, end) in STAGES.items():
            if row[start] is not None and row[end] is not None:
                observed[(stage,)].append(max((row[end] - row[start]).total_seconds(), 0.0))
    return histogram("aima_job_stage_duration_seconds", STAGE_BUCKETS, observed)


def placement_family() -> Metric:
    """Decisions by scope, provider and reason code (not the sentence, whose
    words vary per job). A job holds its latest decision (failover replaces
    it), so this counts jobs' current decisions. Local choices carry provider
    "" like the GPU series; an unplaced decision has scope "none"."""
    counts: Counter[tuple[str, str, str]] = Counter()
    decisions = Job.objects.order_by().filter(placement__isnull=False)
    for placement in decisions.values_list("placement", flat=True).iterator():
        if not isinstance(placement, dict):
            continue
        scope = placement.get("scope") or "none"
        choice = placement.get("choice") or {}
        provider = choice.get("provider", "") if scope == Scope.CLOUD else ""
        counts[(scope, provider, placement.get("code", ""))] += 1
    family = counter("aima_placement_decisions_total")
    for labels, n in sorted(counts.items()):
        family.add_metric(list(labels), n)
    return family


def waiting_since() -> dict[str, list]:
    """Per queue, when each job still waiting there entered it: queued jobs by
    their placement's queue (queued_at), and jobs not yet probed in the
    control queue (created_at)."""
    found: dict[str, list] = defaultdict(list)
    queued = Job.objects.order_by().filter(state=JobState.QUEUED, queued_at__isnull=False)
    for placement, since in queued.values_list("placement", "queued_at").iterator():
        queue = placement.get("queue") if isinstance(placement, dict) else None
        if queue:
            found[queue].append(since)
    received = Job.objects.order_by().filter(state=JobState.RECEIVED)
    found[CONTROL_QUEUE].extend(received.values_list("created_at", flat=True))
    return found
