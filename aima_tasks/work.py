"""What crosses the broker between the control plane and an agent: a unit of
GPU work and its outcome, as plain JSON-ready data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class AnalysisWork:
    job_id: str
    sha256: str
    size_bytes: int
    media_type: str
    analyses: tuple[str, ...]
    confidentiality: str

    def to_dict(self) -> dict:
        return {**asdict(self), "analyses": list(self.analyses)}

    @classmethod
    def from_dict(cls, data: dict) -> AnalysisWork:
        return cls(**{**data, "analyses": tuple(data["analyses"])})


class OutcomeStatus(StrEnum):
    DONE = "done"
    # The control plane no longer wants the work (cancelled, or already finished).
    SKIPPED = "skipped"
    # The agent must not run it (a confidential job that reached a cloud agent).
    REFUSED = "refused"


@dataclass(frozen=True)
class ResultItem:
    analysis: str
    data: dict
    started_at: str
    finished_at: str


@dataclass(frozen=True)
class AnalysisOutcome:
    job_id: str
    status: OutcomeStatus
    agent_id: int | None = None
    gpu_uuid: str = ""
    results: tuple[ResultItem, ...] = field(default_factory=tuple)
    errors: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["results"] = [asdict(r) for r in self.results]
        data["errors"] = list(self.errors)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AnalysisOutcome:
        return cls(
            job_id=data["job_id"],
            status=OutcomeStatus(data["status"]),
            agent_id=data.get("agent_id"),
            gpu_uuid=data.get("gpu_uuid", ""),
            results=tuple(ResultItem(**r) for r in data.get("results", [])),
            errors=tuple(data.get("errors", [])),
        )
