"""The catalogue of analyses: every plugin of the ``aima.analyzers`` entry-point
group, what each one needs and which media it applies to.

An installed package adds an analysis by declaring, in its packaging::

    [project.entry-points."aima.analyzers"]
    ocr = "my_aima_ocr.spec:OCR"

where ``OCR`` is an :class:`AnalysisSpec` whose ``runner`` names the function
agents call. The control plane and the agents read the same catalogue; only
agents import runners. A plugin that fails to load is logged and listed in
``Catalogue.broken``, and the others keep working.

:func:`catalogue` reads the entry points on first use and keeps what it found, so
importing the kernel scans nothing. Tests change it in one of two ways: add a spec
for one test with ``monkeypatch.setitem(catalogue().specs, name, spec)``, or, after
changing what is installed, call ``catalogue.cache_clear()`` to read it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from aima_tasks.kernel import plugins
from aima_tasks.kernel.analyses.spec import MIN_CUDA, AnalysisSpec, MediaType, cuda_tuple

GROUP = "aima.analyzers"

log = logging.getLogger(__name__)


class UnknownAnalysis(ValueError):
    """A requested analysis name that the catalogue does not hold."""


@dataclass(frozen=True)
class Needs:
    """What a set of analyses asks of a GPU beyond its media type's own need."""

    vram_gb: float = 0.0
    min_cuda: str = MIN_CUDA


@dataclass(frozen=True)
class Catalogue:
    # name -> spec, in entry-point name order.
    specs: dict[str, AnalysisSpec]
    # name -> why its plugin could not be loaded.
    broken: dict[str, str]

    def check_names(self, names: list[str]) -> list[str]:
        """Return the names de-duplicated in order; raise on an unknown one."""
        unknown = [name for name in names if name not in self.specs]
        if unknown:
            raise UnknownAnalysis(
                f"unknown analysis {', '.join(sorted(set(unknown)))}; "
                f"choose from {', '.join(sorted(self.specs))}"
            )
        return list(dict.fromkeys(names))

    def applicable(self, media_type: MediaType, has_audio: bool,
                   default_only: bool = False) -> list[str]:
        """Every analysis that can run on media of this type, in catalogue order; with
        ``default_only`` only those that run when a job names none."""
        return [
            spec.name
            for spec in self.specs.values()
            if media_type in spec.media_types
            and (has_audio or not spec.needs_audio_track)
            and (spec.default_on or not default_only)
        ]

    def needs(self, names: tuple[str, ...] | list[str]) -> Needs:
        """The most VRAM and the newest CUDA the named analyses ask for; a name the
        catalogue does not hold asks for nothing (placement refuses it elsewhere)."""
        specs = [self.specs[name] for name in names if name in self.specs]
        return Needs(
            vram_gb=max([0.0, *(spec.min_vram_gb for spec in specs)]),
            min_cuda=max([MIN_CUDA, *(spec.min_cuda for spec in specs)], key=cuda_tuple),
        )


def load_catalogue() -> Catalogue:
    """Every plugin of the group, in entry-point name order, and those that failed."""
    found: dict[str, AnalysisSpec] = {}
    broken: dict[str, str] = {}
    for _, point in sorted(plugins.claimed(GROUP).items()):
        try:
            spec = point.load()
        except Exception as exc:
            broken[point.name] = f"{point.value} could not be loaded: {exc}"
            continue
        if not isinstance(spec, AnalysisSpec) or spec.name != point.name:
            broken[point.name] = (f"{point.value} is not an AnalysisSpec named "
                                  f"{point.name!r}")
            continue
        if spec.merge is not None and not callable(spec.merge):
            # Declarations before the kernel held merges named them "module:function".
            broken[point.name] = (f"{point.value}: merge must be the joining function "
                                  f"itself, not {spec.merge!r}")
            continue
        found[spec.name] = spec
    for name, problem in broken.items():
        log.error("analysis plugin %s: %s", name, problem)
    return Catalogue(found, broken)


@cache
def catalogue() -> Catalogue:
    """The installed analyses, read once per process."""
    return load_catalogue()
