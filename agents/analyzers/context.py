"""What an analyser is given besides the media file: the time range to cover, the
verified model files to load, and how to run them on this GPU."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoadedModel:
    """A model file whose SHA-256 was checked just before it was handed out."""

    name: str
    version: str
    sha256: str
    path: Path  # a file, or a folder for a model made of several files
    # Loader options from the registry, e.g. {"labels": ["person", ...], "input_size": 640}.
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisContext:
    # Media seconds [start_s, end_s) to analyse; end_s None: to the end. Times in a
    # result are media times (start_s already added), so segments join without shifts.
    start_s: float = 0.0
    end_s: float | None = None
    # The analyser's built-in model files by artifact name (see aima_tasks.kernel.analyses.builtin).
    builtin: dict[str, LoadedModel] = field(default_factory=dict)
    # A stronger model from the registry, chosen for this GPU; None: use the built-in one.
    model: LoadedModel | None = None
    device: str = "cpu"  # "cuda" or "cpu": where ONNX Runtime runs
    precision: str = "fp32"  # fp32, fp16 or int8
    batch_size: int = 1
    # All the active registry artifacts of the spec's reference_task (enrolled voices),
    # each verified: data the analysis compares against, not a model it runs.
    references: tuple[LoadedModel, ...] = ()

    def built_in(self, name: str) -> LoadedModel:
        """The built-in model of that name the agent verified and handed over."""
        try:
            return self.builtin[name]
        except KeyError:
            raise LookupError(f"the built-in model {name!r} was not handed to this "
                              "analyser") from None
