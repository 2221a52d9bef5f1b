"""Metric families built from the catalogue, so no name or label is spelled twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from aima_web.monitoring.buckets import Observed
from aima_web.monitoring.catalogue import BY_NAME

# Job stages take seconds (probing) to hours (a long video queued behind others).
STAGE_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600,
                                    86400)
# One analysis of one job: a photograph in a fraction of a second, a film in an hour.
INFERENCE_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800,
                                        3600)


def gauge(name: str) -> GaugeMetricFamily:
    metric = BY_NAME[name]
    return GaugeMetricFamily(name, metric.help, labels=list(metric.labels))


def counter(name: str) -> CounterMetricFamily:
    # prometheus_client appends _total itself; the catalogue spells the full name.
    metric = BY_NAME[name]
    return CounterMetricFamily(name.removesuffix("_total"), metric.help, labels=list(metric.labels))


def histogram(name: str, bounds: Sequence[float],
              observed: Mapping[tuple[str, ...], Observed]) -> HistogramMetricFamily:
    """A histogram per label set from the cumulative bucket counts the
    database counted (monitoring.buckets)."""
    metric = BY_NAME[name]
    family = HistogramMetricFamily(name, metric.help, labels=list(metric.labels))
    for labels, figures in observed.items():
        cumulative = [(_le(bound), n) for bound, n in zip(bounds, figures.buckets, strict=True)]
        cumulative.append(("+Inf", figures.count))
        family.add_metric(list(labels), cumulative, figures.total_s)
    return family


def _le(bound: float) -> str:
    return str(float(bound))
