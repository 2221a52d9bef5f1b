"""Histogram buckets counted by the database: one aggregate query per label
set instead of a row per job or result read into Python at every scrape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum

DURATION = "metric_duration"


@dataclass
class Observed:
    """A histogram's figures for one label set: cumulative bucket counts, count, sum."""

    buckets: list[int]
    count: int = 0
    total_s: float = 0.0

    def add(self, other: Observed) -> None:
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.count += other.count
        self.total_s += other.total_s


@dataclass
class Spans:
    """Durations ``end - start`` of the rows of a query that have both."""

    rows: QuerySet
    start: str
    end: str
    bounds: Sequence[float]
    keys: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = [f"le_{i}" for i in range(len(self.bounds))]

    def annotated(self) -> QuerySet:
        span = ExpressionWrapper(F(self.end) - F(self.start), output_field=DurationField())
        return (self.rows.order_by()
                .filter(**{f"{self.start}__isnull": False, f"{self.end}__isnull": False})
                .annotate(**{DURATION: span}))

    def aggregates(self) -> dict[str, Any]:
        counted = {key: Count("pk", filter=Q(**{f"{DURATION}__lte": timedelta(seconds=bound)}))
                   for key, bound in zip(self.keys, self.bounds, strict=True)}
        return {**counted, "metric_count": Count("pk"), "metric_sum": Sum(DURATION)}

    def observed(self, row: dict[str, Any]) -> Observed:
        total = row["metric_sum"]
        seconds = total.total_seconds() if isinstance(total, timedelta) else float(total or 0)
        return Observed([row[key] for key in self.keys], row["metric_count"], seconds)

    def overall(self) -> Observed:
        return self.observed(self.annotated().aggregate(**self.aggregates()))

    def grouped(self, *by: str) -> list[tuple[dict[str, Any], Observed]]:
        rows = self.annotated().values(*by).annotate(**self.aggregates())
        return [({key: row[key] for key in by}, self.observed(row)) for row in rows]
