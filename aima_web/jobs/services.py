"""What happens to jobs, in one place: submission, cancellation and every state
change the control tasks and agents cause."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from aima_tasks.kernel import segments
from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality
from aima_tasks.kernel.placement import Decision
from aima_tasks.kernel.probe import NotMedia, ProbeResult, sniff
from aima_tasks.kernel.routing import Scope
from aima_tasks.kernel.work import AnalysisOutcome, AnalysisWork, ModelChoice, OutcomeStatus
from aima_web.audit import trail
from aima_web.fleet import assignments
from aima_web.fleet.models import Agent
from aima_web.jobs import deferral, merging, pipeline, signals, storage
from aima_web.jobs.models import Job, MediaAsset, SegmentResult
from aima_web.jobs.states import WORKING, JobState
from aima_web.placement import services as placement
from aima_web.registry import services as registry


class SubmissionError(ValueError):
    """A submission refused for its content; ``field`` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple:
        # Celery pickles a task's exception before its failure policy sees it; without
        # this it would see a plain ValueError, not an error the step ``throws``.
        return type(self), (self.field, str(self))


@dataclass(frozen=True)
class Submission:
    confidentiality: str
    urgency: str
    analyses: tuple[str, ...]
    media_name: str
    region: str = ""
    priority: int = 0
    deadline: datetime | None = None


def submit(owner: Any, chunks: Iterable[bytes], submission: Submission) -> Job:
    """Store the media and a job, and start its pipeline — all of it or none."""
    try:
        received = storage.receive(chunks, settings.AIMA_MAX_UPLOAD_BYTES)
    except storage.UploadTooLarge as exc:
        raise SubmissionError("media", str(exc)) from None
    try:
        with storage.plaintext_copy(received.path) as plaintext:
            media_type = sniff(plaintext, settings.AIMA_MAX_PIXELS)
        not_applicable = [name for name in submission.analyses
                          if media_type not in catalogue().specs[name].media_types]
        if not_applicable:
            raise SubmissionError(
                "analyses", f"{', '.join(not_applicable)} cannot run on {media_type} media")
    except BaseException as exc:
        # Whatever went wrong, the sealed upload is nobody's: leave no orphan in incoming.
        storage.discard(received.path)
        if isinstance(exc, NotMedia):
            raise SubmissionError("media", str(exc)) from None
        raise

    created_file = False
    try:
        with transaction.atomic():
            # The asset stays locked while its file is put in place: retention, which
            # deletes a file no job needs under the same lock, sees this job or is done.
            asset, _ = MediaAsset.objects.select_for_update().get_or_create(
                sha256=received.sha256,
                defaults={"size_bytes": received.size_bytes, "media_type": media_type})
            created_file = storage.keep(received)
            if asset.deleted_at is not None:
                asset.deleted_at = None
                asset.save(update_fields=["deleted_at"])
            job = Job.objects.create(
                owner=owner, media=asset, media_name=submission.media_name[:255],
                confidentiality=submission.confidentiality, urgency=submission.urgency,
                region=submission.region, priority=submission.priority,
                deadline=submission.deadline, requested_analyses=list(submission.analyses))
            trail.record(trail.user_actor(owner), "job.submitted", job.subject,
                         media_type=media_type, sha256=received.sha256,
                         confidentiality=job.confidentiality)
            # Sent inside the transaction: if the broker refuses (kombu's
            # OperationalError, a 503 from aima_web.core.faults), no job is left
            # behind that nothing will ever work on. The probe task waits for
            # the commit if it is quicker than it.
            pipeline.start(str(job.id))
    except BaseException:
        storage.discard(received.path)
        if created_file:
            storage.discard(storage.content_path(received.sha256))
        raise
    return job


def cancel(job: Job, actor: str) -> bool:
    moved = Job.objects.transition(job.id, JobState.CANCELLED)
    if moved:
        trail.record(actor, "job.cancelled", job.subject)
    return moved


def fail(job_id: str, message: str) -> bool:
    moved = Job.objects.transition(job_id, JobState.FAILED, error=message[:4000])
    if moved:
        trail.record(trail.SYSTEM, "job.failed", f"job:{job_id}", error=message[:500])
    return moved


def enter(job_id: str, state: JobState, among: Iterable[JobState] | None = None,
          **fields: Any) -> bool:
    """Move to ``state`` (from a state ``among`` these, if given), or carry on if a
    redelivered task finds the job there already."""
    if Job.objects.transition(job_id, state, among, **fields):
        return True
    return Job.objects.filter(pk=job_id, state=state).exists()


def record_probe(asset: MediaAsset, result: ProbeResult, probed_at: datetime) -> None:
    asset.metadata = result.to_dict()
    asset.media_type = result.media_type
    asset.probed_at = probed_at
    asset.save(update_fields=["metadata", "media_type", "probed_at"])


def choose_analyses(job: Job) -> list[str]:
    """The requested analyses, or every default one that applies; raise if one cannot run."""
    media_type = MediaType(job.media.media_type)
    has_audio = job.media.metadata.get("audio") is not None
    possible = catalogue().applicable(media_type, has_audio)
    if not job.requested_analyses:
        chosen = catalogue().applicable(media_type, has_audio, default_only=True)
        if not chosen:
            # Nothing to send: no agent could ever finish the job.
            raise SubmissionError("analyses", f"no analysis runs on this {media_type} by "
                                  "default; name the analyses to run")
        return chosen
    impossible = [name for name in job.requested_analyses if name not in possible]
    if impossible:
        raise SubmissionError(
            "analyses", f"{', '.join(impossible)} cannot run on this {media_type}"
            + ("" if has_audio else " (it has no sound track)"))
    return list(job.requested_analyses)


def model_choices(job_id: str, chosen: list[str]) -> dict[str, tuple[ModelChoice, ...]]:
    """Per analysis, the registry variants (active, or canary for its share) it may use;
    under the spec's ``references_key``, all the artifacts of its reference task (every
    enrolled voice: the analysis compares with each, it does not pick one)."""
    found = {}
    for name in chosen:
        spec = catalogue().specs[name]
        offered = registry.choices_for(spec.model_task, job_id)
        if offered:
            found[name] = offered
        references = registry.choices_for(spec.reference_task, job_id)
        if references:
            found[spec.references_key] = references
    return found


def model_vram_gb(models: dict[str, tuple[ModelChoice, ...]]) -> float:
    """What a GPU must hold for the registry models: the smallest variant of each
    analysis (bigger GPUs pick bigger ones), the largest of those."""
    return max((min(v.min_vram_gb for v in variants) for variants in models.values()),
               default=0.0)


def place(job: Job) -> Decision:
    """Decide where the job runs and store the decision, the analyses and the
    segments on it; :func:`units_of` then derives its units of work from them.
    A job cheaper at a later hour is held instead (``deferred``, its record's code
    ``deferred_off_peak``): the decision returned then is that record."""
    chosen = choose_analyses(job)
    asset = job.media
    models = model_choices(str(job.id), chosen)
    spec = placement.job_spec(job, chosen, model_vram_gb=model_vram_gb(models))
    needs = placement.analysis_needs(chosen, models)
    decision = placement.decide_for(spec, needs=needs)
    verdict, held = deferral.consider(job, spec, needs, decision)
    if held is not None and verdict is not None and deferral.hold(job, held, verdict):
        return held
    decision = deferral.placed_after_hold(job, decision)
    # Partial: the analyses no GPU can hold are dropped, named in the decision record.
    skipped = {skip.analysis for skip in decision.skipped}
    chosen = [name for name in chosen if name not in skipped]
    spans = segments.cut(asset.metadata.get("duration_s"), settings.AIMA_SEGMENT_S,
                         settings.AIMA_MAX_SEGMENTS)
    job.placement, job.analyses = deferral.record_of(decision, verdict), chosen
    job.segments = [list(span) for span in spans]
    Job.objects.filter(pk=job.pk).update(placement=job.placement, analyses=job.analyses,
                                         segments=job.segments)
    trail.record(trail.SYSTEM, "job.placed" if decision.placed else "job.unplaceable",
                 job.subject, **decision.to_dict(), segments=len(spans))
    return decision


def units_of(job: Job) -> list[AnalysisWork]:
    """A placed job's units of work with their tickets, derived from what is stored
    on it (analyses, segments): the same units however often they are derived, so a
    redelivered place or the sweeper can send them again."""
    asset = job.media
    work = AnalysisWork(job_id=str(job.id), sha256=asset.sha256, size_bytes=asset.size_bytes,
                        media_type=asset.media_type, analyses=tuple(job.analyses),
                        confidentiality=job.confidentiality,
                        models=model_choices(str(job.id), job.analyses))
    spans = [(start, end) for start, end in job.segments]
    return assignments.issue(segments.units(work, spans))


def wanted_parts(job: Job, segment: int, names: list[str]) -> list[str]:
    """Which of ``names`` of ``segment`` have no stored result yet."""
    stored = set(SegmentResult.objects.filter(job=job, index=segment, analysis__in=names)
                 .values_list("analysis", flat=True))
    return [name for name in names if name not in stored]


def start_running(job: Job, agent: Agent, unit: assignments.Unit, ticket: str,
                  gpu_uuid: str) -> bool:
    """The agent takes a unit of the job; return False when the job is no longer
    wanted. Raise NotAssigned when the unit is not the agent's to take: a ticket
    that does not match, a queue or scope the agent does not serve, a GPU not
    its own. A redelivered unit passes to the agent that presents its ticket."""
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk).first()
        if locked is None or locked.state not in WORKING:
            return False
        held = assignments.take(locked, agent, unit, ticket, gpu_uuid)
        fields = {"agent": agent, "gpu": held.gpu}
        if Job.objects.transition(job.id, JobState.RUNNING, **fields):
            trail.record(trail.agent_actor(agent.id), "job.started", job.subject,
                         gpu_uuid=gpu_uuid, segment=unit.segment)
        else:
            Job.objects.filter(pk=job.pk).update(**fields)
    signals.job_started.send(sender=Job, job_id=str(job.id), agent_id=agent.id)
    return True


def report(agent: Agent, outcome: AnalysisOutcome, ticket: str = "") -> JobState | None:
    """An agent's outcome of a unit, accepted only from the agent that holds the
    unit (a refusal: from one that was sent it, by its ticket); returns the job's
    new state as :func:`finish` does. Raise NotAssigned otherwise."""
    unit = assignments.Unit(outcome.job_id, outcome.segment, outcome.analyses)
    outcome = replace(outcome, agent_id=agent.pk)
    if outcome.status is OutcomeStatus.REFUSED:
        return refused(agent, unit, ticket, outcome.errors)
    foreign = sorted({item.analysis for item in outcome.results} - set(unit.analyses))
    if foreign:
        raise assignments.NotAssigned(f"results for {', '.join(foreign)}, which this unit "
                                      "does not hold")
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=outcome.job_id).first()
        if job is None:
            return None
        held = assignments.check_holder(job, agent, unit)
        # The GPU the results came from is the one the unit was taken on, not a claim.
        return finish(replace(outcome, gpu_uuid=held.gpu.uuid if held.gpu else ""))


def refused(agent: Agent, unit: assignments.Unit, ticket: str,
            errors: tuple[str, ...]) -> JobState | None:
    """A unit the agent must not run: the one case an honest agent refuses is a
    confidential job that reached a cloud agent, which fails the job (placement or
    the broker went wrong). Any other refusal is not the agent's to make."""
    job = Job.objects.filter(pk=unit.job_id).first()
    if job is None or not unit.admits(ticket):
        raise assignments.NotAssigned("a refusal must carry the unit's ticket")
    if job.confidentiality != Confidentiality.CONFIDENTIAL or agent.scope == Scope.LOCAL:
        raise assignments.NotAssigned("an agent may refuse only confidential work that reached "
                                      "a cloud agent")
    trail.record(trail.agent_actor(agent.pk), "job.refused", job.subject, errors=list(errors))
    moved = fail(unit.job_id, "; ".join(errors) or f"agent {agent.pk} refused the job")
    return JobState.FAILED if moved else None


def stored_results(job: Job) -> list[str]:
    """Join and store the job's complete analyses; return why it could not, if so
    (nothing of the results is stored then)."""
    try:
        merging.store_results(job)
    except merging.Unjoinable as exc:
        return [str(exc)]
    return []


def finish(outcome: AnalysisOutcome) -> JobState | None:
    """Store one unit's results as they arrive and, once every part of the job is in,
    join them and end the job; return its new state, None while parts are missing.

    The first stored result of a part stays: a redelivered unit's outcome is ignored,
    never a second row.
    """
    job_id = outcome.job_id
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != JobState.RUNNING:
            # Cancelled meanwhile, or a redelivered outcome of a finished job.
            return None
        for item in outcome.results:
            _, created = SegmentResult.objects.get_or_create(
                job=job, analysis=item.analysis, index=outcome.segment,
                defaults={"data": item.data, "meta": item.meta, "agent_id": outcome.agent_id,
                          "gpu_uuid": outcome.gpu_uuid,
                          "started_at": datetime.fromisoformat(item.started_at),
                          "finished_at": datetime.fromisoformat(item.finished_at)})
            if not created:
                trail.record(trail.SYSTEM, "job.segment_repeated", job.subject,
                             analysis=item.analysis, segment=outcome.segment,
                             agent_id=outcome.agent_id)
        if outcome.errors:
            unjoined = stored_results(job)  # what did work stays readable
            fail(job_id, "; ".join([*outcome.errors, *unjoined]))
            signals.job_finished.send(sender=Job, job_id=str(job_id))
            return JobState.FAILED
        stored = set(SegmentResult.objects.filter(job=job).values_list("analysis", "index"))
        if not segments.expected_parts(job.analyses, job.segments) <= stored:
            return None
        if unjoined := stored_results(job):
            fail(job_id, "; ".join(unjoined))
            signals.job_finished.send(sender=Job, job_id=str(job_id))
            return JobState.FAILED
        Job.objects.transition(job_id, JobState.SUCCEEDED)
        trail.record(trail.SYSTEM, "job.succeeded", job.subject, analyses=list(job.analyses),
                     segments=len(job.segments))
        signals.job_finished.send(sender=Job, job_id=str(job_id))
        return JobState.SUCCEEDED
