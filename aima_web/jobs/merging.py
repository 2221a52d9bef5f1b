"""A finished job's results: the stored segment parts of each analysis joined into
one result, with the metadata of how every part was made."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.db import transaction

from aima_tasks.kernel import segments
from aima_tasks.kernel.analyses import catalogue
from aima_web.jobs.models import AnalysisResult, Job, SegmentResult

# What a part's meta says that belongs to the part, not to the whole analysis.
PART_KEYS = ("segment", "start_s", "end_s")


class Unjoinable(ValueError):
    """An analysis's stored parts cannot be joined into one result."""


def joined_data(analysis: str, parts: list[SegmentResult]) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0].data
    merge = catalogue().specs[analysis].merge
    if merge is None:  # only joinable analyses (a spec with a merge) are cut into parts
        raise Unjoinable(f"{analysis} has {len(parts)} parts but cannot join them")
    try:
        return merge([part.data for part in parts])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # A merge reads what agents sent; a part not shaped as its analysis promised
        # ends the job, named, instead of failing every report of its results.
        raise Unjoinable(f"{analysis}: its segment results could not be joined "
                         f"({type(exc).__name__}: {exc})") from exc


def joined_meta(parts: list[SegmentResult]) -> dict[str, Any]:
    first = parts[0].meta
    meta = {key: value for key, value in first.items() if key not in PART_KEYS}
    models = {}
    for part in parts:
        for model in part.meta.get("models", []):
            models.setdefault(model.get("sha256"), model)
    meta["models"] = list(models.values())
    meta["segments"] = [
        {"index": part.index, "start_s": part.meta.get("start_s"),
         "end_s": part.meta.get("end_s"), "agent_id": part.agent_id,
         "gpu_uuid": part.gpu_uuid, "device": part.meta.get("device"),
         "started_at": part.started_at.isoformat(), "finished_at": part.finished_at.isoformat()}
        for part in parts]
    return meta


@transaction.atomic
def store_results(job: Job) -> list[AnalysisResult]:
    """Join and store every analysis whose parts are all in (all of them once the job
    is done; those that finished where a failed job stopped)."""
    expected = segments.expected_parts(job.analyses, job.segments)
    stored = []
    rows = SegmentResult.objects.filter(job=job).order_by("analysis", "index")
    for analysis, grouped in groupby(rows, key=lambda row: row.analysis):
        parts = list(grouped)
        if {(analysis, part.index) for part in parts} != {p for p in expected if p[0] == analysis}:
            continue  # a part is missing: not passed off as the whole
        last = max(parts, key=lambda part: part.finished_at)
        result, _ = AnalysisResult.objects.update_or_create(
            job=job, analysis=analysis,
            defaults={"data": joined_data(analysis, parts), "meta": joined_meta(parts),
                      "agent_id": last.agent_id, "gpu_uuid": last.gpu_uuid,
                      "started_at": min(part.started_at for part in parts),
                      "finished_at": last.finished_at})
        stored.append(result)
    return stored
