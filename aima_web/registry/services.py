"""Which registry models a job gets, and the moves between versions: activate,
canary, retire, roll back. Every move is one transaction and leaves at most one
active version per model name. An enrolment (``biometric``) that is retired, by
hand or by another version's activation, is erased and never active again."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.work import ModelChoice
from aima_web.audit import trail
from aima_web.registry import biometric
from aima_web.registry.models import ModelArtifact, ModelStatus


class RegistryError(ValueError):
    """A move the registry refuses; the message says why."""


def in_canary(job_id: str, name: str, share: float) -> bool:
    """Whether a job falls in a canary's share: a stable hash, so a redelivered or
    re-placed job keeps the version it had."""
    point = int(hashlib.sha256(f"{job_id}:{name}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return point < share


def choices_for(task: str, job_id: str) -> tuple[ModelChoice, ...]:
    """One version per model name of ``task``: the canary for its share of jobs, else the
    active one. Names with neither are not offered."""
    if not task:
        return ()
    offered: dict[str, ModelArtifact] = {}
    for artifact in ModelArtifact.objects.filter(
            task=task, status__in=(ModelStatus.ACTIVE, ModelStatus.CANARY)).order_by("name"):
        if artifact.status == ModelStatus.CANARY:
            if in_canary(job_id, artifact.name, artifact.canary_share):
                offered[artifact.name] = artifact
        else:
            offered.setdefault(artifact.name, artifact)
    return tuple(
        ModelChoice(name=a.name, version=a.version, sha256=a.sha256, filename=a.filename,
                    precision=a.precision, min_vram_gb=a.min_vram_gb, config=a.config,
                    canary=a.status == ModelStatus.CANARY)
        for a in offered.values())


def set_status(artifact: ModelArtifact, status: ModelStatus, actor: str,
               canary_share: float | None = None) -> ModelArtifact:
    """Move one version; making it active retires the active version of its name."""
    with transaction.atomic():
        artifact = ModelArtifact.objects.select_for_update().get(pk=artifact.pk)
        if artifact.erased_at is not None and status != ModelStatus.RETIRED:
            raise RegistryError(_erased(artifact))
        fields = ["status"]
        replaced: list[ModelArtifact] = []
        if status == ModelStatus.ACTIVE and artifact.status != ModelStatus.ACTIVE:
            replaced = list(ModelArtifact.objects.select_for_update().filter(
                name=artifact.name, status=ModelStatus.ACTIVE).exclude(pk=artifact.pk))
            ModelArtifact.objects.filter(pk__in=[r.pk for r in replaced]).update(
                status=ModelStatus.RETIRED)
            artifact.activated_at = timezone.now()
            fields.append("activated_at")
        if canary_share is not None:
            if not 0.0 <= canary_share <= 1.0:
                raise RegistryError(f"canary share {canary_share} must lie between 0 and 1")
            artifact.canary_share = canary_share
            fields.append("canary_share")
        artifact.status = status
        artifact.save(update_fields=fields)
        trail.record(actor, f"model.{status}", f"model:{artifact.pk}", name=artifact.name,
                     version=artifact.version, canary_share=artifact.canary_share)
        for retired in replaced + ([artifact] if status == ModelStatus.RETIRED else []):
            biometric.erase(retired, actor)
    return artifact


def _erased(artifact: ModelArtifact) -> str:
    return (f"{artifact} was erased when it was retired ({artifact.erased_at:%Y-%m-%d %H:%M}); "
            "enrol again and add the new file as a new version")


def roll_back(name: str, actor: str) -> ModelArtifact:
    """Retire the active version of ``name`` and make the one active before it active
    again; return that one."""
    with transaction.atomic():
        versions = ModelArtifact.objects.select_for_update().filter(name=name)
        current = versions.filter(status=ModelStatus.ACTIVE).first()
        if current is None:
            raise RegistryError(f"{name} has no active version to roll back from")
        previous = (versions.exclude(pk=current.pk).filter(activated_at__isnull=False)
                    .order_by("-activated_at").first())
        if previous is None:
            raise RegistryError(f"{name} {current.version} is the only version ever active: "
                                "there is nothing to roll back to")
        if previous.erased_at is not None:
            raise RegistryError(_erased(previous))
        current.status = ModelStatus.RETIRED
        current.save(update_fields=["status"])
        previous.status = ModelStatus.ACTIVE
        previous.activated_at = timezone.now()
        previous.save(update_fields=["status", "activated_at"])
        trail.record(actor, "model.rolled_back", f"model:{previous.pk}", name=name,
                     from_version=current.version, to_version=previous.version)
        biometric.erase(current, actor)
    return previous
