"""Deleting media and results once no job needs them (``RetentionPolicy``, ``LegalHold``).

A job needs its media while it is unfinished, on legal hold, or finished less than
its confidentiality's media period ago; a stored file, which every job with the
same content shares, goes only when no job needs it. Results go per job. Every
deletion leaves an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet

from aima_tasks.kernel.classification import Confidentiality
from aima_web.audit import trail
from aima_web.jobs import storage
from aima_web.jobs.models import AnalysisResult, Job, MediaAsset, SegmentResult
from aima_web.privacy.models import RetentionPolicy

DELETED = "retention.deleted"


@dataclass(frozen=True)
class Swept:
    media: int
    results: int


def _periods(field: str) -> dict[str, int | None]:
    """Days per confidentiality; None (for ever) where no policy says otherwise."""
    periods: dict[str, int | None] = dict.fromkeys(Confidentiality, None)
    periods.update(RetentionPolicy.objects.values_list("confidentiality", field))
    return periods


def needs_media(now: datetime) -> Q:
    """The jobs that still need their media at ``now``."""
    keep = Q(finished_at__isnull=True) | Q(legal_hold__isnull=False)
    for confidentiality, days in _periods("media_days").items():
        if days is None:
            keep |= Q(confidentiality=confidentiality)
        else:
            keep |= Q(confidentiality=confidentiality,
                      finished_at__gt=now - timedelta(days=days))
    return keep


def expired_results(now: datetime) -> Q:
    """The jobs whose results are past their period and not on hold."""
    expired = Q(pk__in=[])
    for confidentiality, days in _periods("results_days").items():
        if days is not None:
            expired |= Q(confidentiality=confidentiality,
                         finished_at__lte=now - timedelta(days=days))
    return expired & Q(results_deleted_at__isnull=True, legal_hold__isnull=True,
                       finished_at__isnull=False)


def sweep(now: datetime) -> Swept:
    """Delete every result and stored file past its retention at ``now``."""
    expired = Job.objects.filter(expired_results(now)).values_list("pk", flat=True)
    results = sum(_delete_results(job_id, now) for job_id in expired)
    media = release_media(MediaAsset.objects.all(), now, trail.SYSTEM, DELETED,
                          reason="retention")
    return Swept(media=media, results=results)


def _delete_results(job_id: object, now: datetime) -> bool:
    with transaction.atomic():
        analyses = AnalysisResult.objects.filter(job_id=job_id).delete()[0]
        segments = SegmentResult.objects.filter(job_id=job_id).delete()[0]
        if not Job.objects.filter(pk=job_id, results_deleted_at__isnull=True).update(
                results_deleted_at=now):
            return False
        if analyses or segments:  # a job that failed before any result leaves no event
            trail.record(trail.SYSTEM, DELETED, f"job:{job_id}", kind="results",
                         results=analyses, segment_results=segments, reason="retention")
    return bool(analyses or segments)


def release_media(assets: QuerySet[MediaAsset], now: datetime, actor: str, action: str,
                  **detail: object) -> int:
    """Delete the stored file of each of these assets that no job needs; return how many."""
    needed = needs_media(now)  # one policy read per sweep, not one per asset
    unneeded = (assets.filter(deleted_at__isnull=True)
                .exclude(pk__in=Job.objects.filter(needed).values("media_id")))
    return sum(_delete_file(pk, now, needed, actor, action, detail)
               for pk in unneeded.values_list("pk", flat=True))


def _delete_file(asset_id: int, now: datetime, needed: Q, actor: str, action: str,
                 detail: dict[str, object]) -> bool:
    # The row stays locked while the file goes: a submission of the same content
    # waits for it, then finds the file gone and stores its own (jobs.services.submit).
    with transaction.atomic():
        asset = (MediaAsset.objects.select_for_update()
                 .filter(pk=asset_id, deleted_at__isnull=True).first())
        if asset is None or Job.objects.filter(needed, media=asset).exists():
            return False
        # What the probe read from the file (EXIF, say) goes with it.
        asset.deleted_at, asset.metadata, asset.probed_at = now, {}, None
        asset.save(update_fields=["deleted_at", "metadata", "probed_at"])
        jobs = [str(pk) for pk in asset.jobs.values_list("pk", flat=True)]
        trail.record(actor, action, f"media:{asset.sha256}", kind="media", jobs=jobs, **detail)
        storage.discard(storage.content_path(asset.sha256))
    return True
