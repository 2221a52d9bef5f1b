"""The metric catalogue of issue 17: every series /metrics exports, by exact name.

One place owns the names: the collector builds its families from these entries, and
the alert rules and Grafana dashboards in deploy/monitoring are checked against them.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

MetricType = Literal["gauge", "counter", "histogram"]

GPU_LABELS = ("gpu", "model", "host", "scope", "provider")


class Metric(NamedTuple):
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]


CATALOGUE: tuple[Metric, ...] = (
    Metric(
        "aima_gpu_utilization_ratio",
        "gauge",
        "GPU utilisation 0..1 from the latest telemetry",
        GPU_LABELS,
    ),
    Metric(
        "aima_gpu_memory_used_bytes",
        "gauge",
        "GPU memory in use, bytes (latest telemetry)",
        GPU_LABELS,
    ),
    Metric("aima_gpu_memory_total_bytes", "gauge", "GPU memory in all, bytes", GPU_LABELS),
    Metric(
        "aima_gpu_temperature_celsius",
        "gauge",
        "GPU temperature, degrees Celsius (latest telemetry)",
        GPU_LABELS,
    ),
    Metric(
        "aima_gpu_slowdown_temperature_celsius",
        "gauge",
        "Temperature at which the GPU slows itself down, when the driver reports it",
        GPU_LABELS,
    ),
    Metric("aima_gpu_power_watts", "gauge", "GPU power draw, watts (latest telemetry)", GPU_LABELS),
    Metric("aima_gpu_up", "gauge", "1 when the GPU's agent heartbeat is fresh, else 0", GPU_LABELS),
    Metric(
        "aima_gpu_failed",
        "gauge",
        "1 when the GPU is marked failed or its health is not healthy",
        GPU_LABELS,
    ),
    Metric(
        "aima_agent_heartbeat_age_seconds",
        "gauge",
        "Seconds since the agent's last heartbeat",
        ("agent", "scope"),
    ),
    Metric("aima_queue_messages", "gauge", "Messages ready in the broker queue", ("queue",)),
    Metric(
        "aima_queue_oldest_message_age_seconds",
        "gauge",
        "Age of the oldest job waiting in the queue, seconds (0 when empty)",
        ("queue",),
    ),
    Metric(
        "aima_queue_wait_target_seconds",
        "gauge",
        "The placement policy's target wait in a queue, seconds",
        (),
    ),
    Metric("aima_jobs", "gauge", "Jobs by state (every state present)", ("state",)),
    Metric(
        "aima_job_analyses",
        "gauge",
        "Requested analyses of jobs, by job state and analysis",
        ("state", "analysis"),
    ),
    Metric("aima_jobs_finished_total", "counter", "Jobs ended, by final state", ("state",)),
    Metric(
        "aima_job_stage_duration_seconds",
        "histogram",
        "Time jobs spent in each stage (probing, placing, queued, running) and in all (total)",
        ("stage",),
    ),
    Metric(
        "aima_placement_decisions_total",
        "counter",
        "Placement decisions by scope, provider and reason",
        ("scope", "provider", "reason"),
    ),
    Metric(
        "aima_cloud_spend_month", "gauge", "Cloud spend this calendar month, policy currency", ()
    ),
    Metric(
        "aima_cloud_spend_per_hour", "gauge", "Sum of running cloud instances' price per hour", ()
    ),
    Metric(
        "aima_cloud_budget_month",
        "gauge",
        "The policy's monthly cloud budget (absent when none)",
        (),
    ),
    Metric(
        "aima_cloud_instances",
        "gauge",
        "Cloud instances by state and provider",
        ("state", "provider"),
    ),
    Metric(
        "aima_cloud_instance_price_per_hour",
        "gauge",
        "Price per hour of each running cloud instance",
        ("cloud_instance", "provider", "gpu_model"),
    ),
    Metric(
        "aima_cloud_instance_idle_seconds",
        "gauge",
        "Seconds a running instance has had no job (0 when busy)",
        ("cloud_instance", "provider"),
    ),
    Metric(
        "aima_analysis_inference_seconds",
        "histogram",
        "Inference time per analysis and GPU model (AnalysisResult finished - started)",
        ("analysis", "gpu_model"),
    ),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in CATALOGUE}


def names() -> frozenset[str]:
    """Every exported metric name (histograms by their base name)."""
    return frozenset(BY_NAME)
