"""Job series: jobs by state and analysis, ended jobs, how long each stage
took, and the placement decisions stored on the jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Min
from django.db.models.fields.json import KT
from prometheus_client.core import Metric

from aima_tasks.kernel.analyses import catalogue
from aima_tasks.kernel.routing import CONTROL_QUEUE, Scope
from aima_web.jobs.models import Job
from aima_web.jobs.states import TERMINAL, JobState
from aima_web.monitoring.buckets import Spans
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
    settled on, or before placement the ones asked for. The database counts
    jobs per distinct (state, analyses) first: there are few such lists."""
    counts: Counter[tuple[str, str]] = Counter()
    rows = (Job.objects.order_by().values_list("state", "analyses", "requested_analyses")
            .annotate(n=Count("pk")))
    for state, settled, requested, n in rows:
        for name in settled or requested or ():
            counts[(state, name)] += n
    family = gauge("aima_job_analyses")
    names = set(catalogue().specs) | {name for _, name in counts}
    for state in JobState:
        for name in sorted(names):
            family.add_metric([state.value, name], counts[(state.value, name)])
    return family


def stage_family() -> Metric:
    observed = {(stage,): Spans(Job.objects.all(), start, end, STAGE_BUCKETS).overall()
                for stage, (start, end) in STAGES.items()}
    return histogram("aima_job_stage_duration_seconds", STAGE_BUCKETS, observed)


def placement_family() -> Metric:
    """Decisions by scope, provider and reason code (not the sentence, whose
    words vary per job). A job holds its latest decision (failover replaces
    it), so this counts jobs' current decisions. Local choices carry provider
    "" like the GPU series; an unplaced decision has scope "none"."""
    rows = (Job.objects.order_by().filter(placement__isnull=False)
            .values_list(KT("placement__scope"), KT("placement__choice__provider"),
                         KT("placement__code"))
            .annotate(n=Count("pk")))
    counts: Counter[tuple[str, str, str]] = Counter()
    for scope, provider, code, n in rows:
        scope = scope or "none"
        counts[(scope, (provider or "") if scope == Scope.CLOUD else "", code or "")] += n
    family = counter("aima_placement_decisions_total")
    for labels, n in sorted(counts.items()):
        family.add_metric(list(labels), n)
    return family


def waiting_since() -> dict[str, datetime]:
    """Per queue, since when its longest-waiting job has been there: queued
    jobs by their placement's queue (queued_at), and jobs not yet probed in the
    control queue (created_at)."""
    queued = (Job.objects.order_by().filter(state=JobState.QUEUED, queued_at__isnull=False)
              .values_list(KT("placement__queue")).annotate(oldest=Min("queued_at")))
    found = {queue: oldest for queue, oldest in queued if queue}
    received = Job.objects.filter(state=JobState.RECEIVED).aggregate(oldest=Min("created_at"))
    if received["oldest"] is not None:
        found[CONTROL_QUEUE] = received["oldest"]
    return found
