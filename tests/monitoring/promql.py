"""Just enough PromQL reading to check names: the AIMA metrics an expression
names and the labels it matches or groups on, against the metric catalogue."""

from __future__ import annotations

import re

from aima_web.monitoring.catalogue import BY_NAME

NAME = re.compile(r"\baima_[A-Za-z0-9_:]*")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
MATCHERS = re.compile(r"\baima_[A-Za-z0-9_:]*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
# Labels every scraped series gets from its target.
TARGET_LABELS = frozenset({"job", "instance"})


def metric_names(expr: str) -> set[str]:
    """The AIMA metrics an expression names, histograms by their base name."""
    names = set()
    for name in NAME.findall(expr):
        for suffix in HISTOGRAM_SERIES:
            base = name.removesuffix(suffix)
            if base != name and base in BY_NAME and BY_NAME[base].type == "histogram":
                name = base
        names.add(name)
    return names


def stored_labels(name: str) -> set[str]:
    """The labels Prometheus stores for a catalogue metric: the exporter's, the
    target's, and ``le`` on a histogram's buckets."""
    metric = BY_NAME[name]
    labels = set(metric.labels)
    if metric.type == "histogram":
        labels.add("le")
    return labels | TARGET_LABELS


def labels_used(expr: str) -> set[str]:
    """The label names an expression matches on or groups by."""
    used = set()
    for matchers in MATCHERS.findall(expr):
        used.update(MATCHER_LABEL.findall(matchers))
    for grouping in GROUPING.findall(expr):
        used.update(label.strip() for label in grouping.split(",") if label.strip())
    return used


def unknown_labels(expr: str, templated: set[str] = frozenset()) -> set[str]:
    """Labels the expression (or a legend or annotation drawn from it) uses that
    none of its metrics carries."""
    known = set().union(*(stored_labels(name) for name in metric_names(expr) if name in BY_NAME))
    return (labels_used(expr) | templated) - known
