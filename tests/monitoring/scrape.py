"""Reading /metrics back with Prometheus's own text parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


class Scrape:
    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: list[Sample] = [s for f in self.families.values() for s in f.samples]

    def series(self, name: str) -> dict[tuple, float]:
        """Every sample of ``name`` (the full sample name), by its sorted labels."""
        return {tuple(sorted(s.labels.items())): s.value
                for s in self.samples if s.name == name}

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0]

    def has(self, name: str, **labels: str) -> bool:
        return any(s.name == name and s.labels == labels for s in self.samples)
