"""The /metrics collector: every family of the catalogue, read from the
database (and the broker for queue depths) at scrape time, into a registry
of its own so nothing else prometheus_client collects in the process leaks in."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from aima_web.monitoring import cloud, fleet, inference, jobs, queues


class AimaCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        policy = cloud.current_policy()
        yield from fleet.gpu_families()
        yield from fleet.agent_families(now)
        yield from queues.queue_families(now, policy)
        yield from jobs.state_families()
        yield jobs.analysis_family()
        yield jobs.stage_family()
        yield jobs.placement_family()
        yield from cloud.spend_families(now, policy)
        yield from cloud.instance_families(now)
        yield inference.inference_family()


def registry() -> CollectorRegistry:
    """A fresh registry per scrape: the collector holds no state between them."""
    fresh = CollectorRegistry(auto_describe=False)
    fresh.register(AimaCollector())
    return fresh
