"""Enrolled voices and faces: registry artifacts of an analysis's reference task
(``AnalysisSpec.reference_task``), biometric data of named people.

Their files are sealed at rest as media are (``aima_web.privacy.sealing``), under the
SHA-256 of their plaintext, so agents pin them by checksum as any model; agents get
the plaintext, and each download is on record. Retiring one erases its file; the row
stays as the record of what was enrolled and when it went.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.analyses import catalogue
from aima_web.audit import trail
from aima_web.core import content
from aima_web.jobs import storage
from aima_web.privacy import keyring
from aima_web.privacy.sealing import CHUNK_BYTES, SealingWriter, Unreadable, key_id_of
from aima_web.registry.models import ModelArtifact

ERASED = "model.erased"
FETCHED = "model.fetched"


def reference_tasks() -> frozenset[str]:
    """The registry tasks whose artifacts are enrolments: the installed analyses'
    reference tasks, so a new analysis with references is covered without a list here."""
    return frozenset(spec.reference_task for spec in catalogue().specs.values()
                     if spec.reference_task)


def is_biometric(task: str) -> bool:
    return bool(task) and task in reference_tasks()


def writer_for(task: str) -> content.Writer:
    """How ``aima_models add`` writes an artifact of ``task`` to disk: sealed for an
    enrolment, plain for model weights (agents read those as they are)."""
    return storage.sealing_writer if is_biometric(task) else content.private_file


def open_file(artifact: ModelArtifact) -> BinaryIO:
    """The artifact's plaintext bytes (raises FileNotFoundError, Unreadable)."""
    if is_biometric(artifact.task):
        return storage.open_sealed(artifact.path)  # type: ignore[return-value]
    return artifact.path.open("rb")


def record_fetch(artifact: ModelArtifact, agent_id: int) -> None:
    """An agent read an enrolment: on record as a media read is."""
    if is_biometric(artifact.task):
        trail.record(trail.agent_actor(agent_id), FETCHED, f"model:{artifact.pk}",
                     name=artifact.name, version=artifact.version, sha256=artifact.sha256)


def erase(artifact: ModelArtifact, actor: str) -> bool:
    """Crypto-erase a retired enrolment: its sealed file goes, the row records when.
    Call it inside the transaction that holds the row locked, as the last step, so
    a key rotation resealing the file meanwhile does not write it back."""
    if not is_biometric(artifact.task) or artifact.erased_at is not None:
        return False
    artifact.erased_at = timezone.now()
    artifact.save(update_fields=["erased_at"])
    trail.record(actor, ERASED, f"model:{artifact.pk}", name=artifact.name,
                 version=artifact.version, sha256=artifact.sha256, reason="retired")
    artifact.path.unlink(missing_ok=True)
    return True


def enrolments() -> Iterator[ModelArtifact]:
    """The enrolments whose files are (meant to be) on disk."""
    return ModelArtifact.objects.filter(task__in=reference_tasks(),
                                        erased_at__isnull=True).iterator()


def key_of(artifact: ModelArtifact) -> str:
    """The id of the key an enrolment's file is sealed with (raises Unreadable,
    FileNotFoundError)."""
    return storage.key_of(artifact.path)


def reseal(artifact_id: int) -> bool:
    """Seal an enrolment's file again with the current key, under its row's lock (as
    ``erase`` deletes); return whether it changed."""
    with transaction.atomic():
        artifact = (ModelArtifact.objects.select_for_update()
                    .filter(pk=artifact_id, erased_at__isnull=True).first())
        if artifact is None:
            return False
        try:
            return storage.reseal(artifact.path)
        except FileNotFoundError:
            return False


def seal_plain(path: Path) -> bool:
    """Seal a file an older install stored in plain bytes; leave a sealed one as it
    is. Return whether it was sealed now."""
    with path.open("rb") as raw:
        try:
            key_id_of(raw)
            return False
        except Unreadable:
            pass
    ring = keyring.load()

    def write(out: BinaryIO) -> None:
        with path.open("rb") as source:
            writer = SealingWriter(out, ring.current, ring.current_key, durable=False)
            shutil.copyfileobj(source, writer, CHUNK_BYTES)
            writer.finish()

    content.write_atomically(path, write)
    return True
