"""Inference time per analysis and GPU model, from the analyses' results."""

from __future__ import annotations

from prometheus_client.core import Metric

from aima_web.fleet.models import LocalGPU
from aima_web.instances.models import CloudInstance
from aima_web.jobs.models import AnalysisResult
from aima_web.monitoring.buckets import Observed, Spans
from aima_web.monitoring.families import INFERENCE_BUCKETS, histogram


def inference_family() -> Metric:
    """finished - started of each AnalysisResult, by the model of the GPU that
    made it: the local GPU of its reported uuid, else its agent's cloud
    instance's GPU model, else "" (a result of an agent since removed). The
    database counts per (analysis, GPU uuid, agent); the models merge here."""
    by_uuid = dict(LocalGPU.objects.exclude(uuid=None).values_list("uuid", "model"))
    by_agent = dict(CloudInstance.objects.exclude(agent=None).values_list("agent_id", "gpu_model"))
    spans = Spans(AnalysisResult.objects.all(), "started_at", "finished_at", INFERENCE_BUCKETS)
    observed: dict[tuple[str, ...], Observed] = {}
    for key, figures in spans.grouped("analysis", "gpu_uuid", "agent_id"):
        model = by_uuid.get(key["gpu_uuid"]) or by_agent.get(key["agent_id"]) or ""
        labels = (key["analysis"], model)
        if labels in observed:
            observed[labels].add(figures)
        else:
            observed[labels] = figures
    return histogram("aima_analysis_inference_seconds", INFERENCE_BUCKETS, observed)
