"""One user's data: exported whole, or erased (``manage.py aima_privacy``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aima_web.audit import trail
from aima_web.audit.models import AuditEvent
from aima_web.jobs.models import Job, MediaAsset
from aima_web.privacy import retention

ERASED = "privacy.erased"
EXPORTED = "privacy.exported"


class ErasureRefused(RuntimeError):
    pass


def user_named(username: str) -> Any:
    return get_user_model().objects.get(username=username)


def _audit_about(user: Any, job_subjects: list[str]) -> list[dict[str, Any]]:
    actor = trail.user_actor(user)
    events = AuditEvent.objects.filter(
        Q(actor=actor) | Q(subject=actor) | Q(subject__in=job_subjects)).order_by("pk")
    return [{"at": e.created_at.isoformat(), "actor": e.actor, "action": e.action,
             "subject": e.subject, "detail": e.detail} for e in events]


def _job_record(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.id), "state": job.state, "media_name": job.media_name,
        "media_sha256": job.media.sha256, "media_type": job.media.media_type,
        "confidentiality": job.confidentiality, "urgency": job.urgency, "region": job.region,
        "analyses": job.analyses, "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "results": {r.analysis: {"data": r.data, "meta": r.meta} for r in job.results.all()},
    }


def export(username: str, actor: str) -> dict[str, Any]:
    """The user's account, jobs with their results, and the audit events about them."""
    user = user_named(username)
    jobs = list(Job.objects.filter(owner=user).select_related("media")
                .prefetch_related("results").order_by("created_at"))
    document = {
        "exported_at": timezone.now().isoformat(),
        "user": {"username": user.get_username(), "email": user.email,
                 "date_joined": user.date_joined.isoformat()},
        "jobs": [_job_record(job) for job in jobs],
        "audit": _audit_about(user, [job.subject for job in jobs]),
    }
    trail.record(actor, EXPORTED, trail.user_actor(user), jobs=len(jobs))
    return document


def erase(username: str, actor: str, now: datetime | None = None) -> int:
    """Delete the user's jobs with their results, and their media where no other job
    needs them; refuse, changing nothing, while a job is on legal hold or unfinished.
    Return how many jobs went."""
    now = now or timezone.now()
    user = user_named(username)
    with transaction.atomic():
        # The jobs are locked first and checked after, in later statements that see any
        # hold committed meanwhile (a new hold waits on the lock); exactly the checked
        # jobs go, so one submitted while we look stays.
        ids = [str(pk) for pk in Job.objects.select_for_update().filter(owner=user)
               .values_list("pk", flat=True)]
        jobs = Job.objects.filter(pk__in=ids)
        held = [str(pk) for pk in jobs.filter(legal_hold__isnull=False)
                .values_list("pk", flat=True)]
        if held:
            raise ErasureRefused(f"{len(held)} of {username}'s jobs are on legal hold and "
                                 f"keep their data: {', '.join(held)}; lift the holds first")
        unfinished = [str(pk) for pk in jobs.filter(finished_at__isnull=True)
                      .values_list("pk", flat=True)]
        if unfinished:
            raise ErasureRefused(f"{len(unfinished)} of {username}'s jobs have not finished: "
                                 f"{', '.join(unfinished)}; cancel them or wait")
        asset_ids = list(jobs.values_list("media_id", flat=True).distinct())
        jobs.delete()
        trail.record(actor, ERASED, trail.user_actor(user), jobs=ids)
    retention.release_media(MediaAsset.objects.filter(pk__in=asset_ids), now, actor, ERASED,
                            user=username)
    MediaAsset.objects.filter(pk__in=asset_ids, jobs__isnull=True,
                              deleted_at__isnull=False).delete()
    return len(ids)
