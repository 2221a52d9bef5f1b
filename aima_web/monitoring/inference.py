"""Inference time per analysis and GPU model, from the analyses' results."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.core import Metric

from aima_web.fleet.models import LocalGPU
from aima_web.instances.models import CloudInstance
from aima_web.jobs.models import AnalysisResult
from aima_web.monitoring.families import INFERENCE_BUCKETS, histogram


def inference_family() -> Metric:
    """finished - started of each AnalysisResult, by the model of the GPU that
    made it: the local GPU of its reported uuid, else its agent's cloud
    instance's GPU model, else "" (a result of an agent since removed)."""
    by_uuid = dict(LocalGPU.objects.exclude(uuid=None).values_list("uuid", "model"))
    by_agent = dict(CloudInstance.objects.exclude(agent=None).values_list("agent_id", "gpu_model"))
    observed: dict[tuple[str, ...], list[float]] = defaultdict(list)
    rows = AnalysisResult.objects.order_by().values_list(
        "analysis", "gpu_uuid", "agent_id", "started_at", "finished_at")
    for analysis, uuid, agent_id, started, finished in rows.iterator():
        model = by_uuid.get(uuid) or by_agent.get(agent_id) or ""
        observed[(analysis, model)].append(max((finished - started).total_seconds(), 0.0))
    return histogram("aima_analysis_inference_seconds", INFERENCE_BUCKETS, observed)
