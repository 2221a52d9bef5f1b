"""What crosses the broker between the control plane and an agent: a unit of
GPU work and its outcome, as plain JSON-ready data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class ModelChoice:
    """A registry model an analysis may load instead of its built-in one."""

    name: str
    version: str
    sha256: str
    filename: str
    precision: str
    min_vram_gb: float = 0.0
    config: dict = field(default_factory=dict)
    canary: bool = False


@dataclass(frozen=True)
class AnalysisWork:
    """One message's worth of a job: some of its analyses over one time segment
    (``segment`` 0 from 0 s to the end where the media is analysed whole)."""

    job_id: str
    sha256: str
    size_bytes: int
    media_type: str
    analyses: tuple[str, ...]
    confidentiality: str
    segment: int = 0
    start_s: float = 0.0
    end_s: float | None = None
    # Per analysis, the registry variants the agent picks from for its GPU.
    models: dict[str, tuple[ModelChoice, ...]] = field(default_factory=dict)
    # The control plane's proof that it sent this unit: the agent presents it
    # when it takes the unit (see aima_web.fleet.assignments).
    ticket: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["analyses"] = list(self.analyses)
        data["models"] = {name: [asdict(m) for m in found] for name, found in self.models.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AnalysisWork:
        models = {name: tuple(ModelChoice(**m) for m in found)
                  for name, found in data.get("models", {}).items()}
        return cls(**{**data, "analyses": tuple(data["analyses"]), "models": models})


class OutcomeStatus(StrEnum):
    DONE = "done"
    # The agent must not run it (a confidential job that reached a cloud agent).
    REFUSED = "refused"


@dataclass(frozen=True)
class ResultItem:
    analysis: str
    data: dict
    started_at: str
    finished_at: str
    # How it was made: models (name, version, sha256), device, precision, batch size.
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisOutcome:
    """What an agent made of one unit of work: its results, or why it has none.

    ``analyses`` names the unit as it was sent (with ``segment``), which is how
    the control plane knows whose unit it is; ``agent_id`` is filled in by the
    control plane from the agent's credential, never taken from the agent."""

    job_id: str
    status: OutcomeStatus
    analyses: tuple[str, ...] = ()
    agent_id: int | None = None
    gpu_uuid: str = ""
    segment: int = 0
    results: tuple[ResultItem, ...] = field(default_factory=tuple)
    errors: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["analyses"] = list(self.analyses)
        data["results"] = [asdict(r) for r in self.results]
        data["errors"] = list(self.errors)
        return data
