"""Enrolled voices and faces are biometric data: sealed at rest under the SHA-256 of
their plaintext, served whole to agents over the real download path with each read
on record, sealed again by key rotation, and erased when retired."""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython

from aima_tasks.kernel.analyses import diarization, faces
from aima_web.audit.models import AuditEvent
from aima_web.core import content
from aima_web.jobs import storage
from aima_web.privacy import keyring, rotation
from aima_web.privacy.sealing import MAGIC
from aima_web.registry import biometric
from aima_web.registry.models import ModelArtifact, ModelStatus
from tests.agent_api import as_agent, enroll, registered_model_cache

NAME = "Anna Quist"
EMBEDDING = [0.123456789, -0.987654321, 0.5555555]


@pytest.fixture(autouse=True)
def model_root(settings, tmp_path: Path) -> Path:
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    return settings.AIMA_MODEL_ROOT


def enrolment(tag: str) -> bytes:
    """An enrolment as ``python -m agents enrol-voice`` / ``enrol-face`` writes it."""
    return json.dumps({"name": f"{NAME} ({tag})", "embedding": EMBEDDING}).encode()


def added(tmp_path: Path, name: str, version: str, task: str, *flags: str) -> ModelArtifact:
    source = tmp_path / f"{name}-{version}.json"
    source.write_bytes(enrolment(f"{name} {version}"))
    call_command("aima_models", "add", name, version, str(source), "--task", task, *flags)
    return ModelArtifact.objects.get(name=name, version=version)


def plaintext_in(raw: bytes) -> bool:
    return NAME.encode() in raw or b"0.123456789" in raw or b"embedding" in raw


def test_the_reference_tasks_come_from_the_catalogue():
    assert biometric.reference_tasks() >= {diarization.ENROLMENT_TASK, faces.ENROLMENT_TASK}
    assert not biometric.is_biometric("person-detection") and not biometric.is_biometric("")


@pytest.mark.django_db(transaction=True)
def test_enrolments_are_sealed_at_rest_and_reach_the_agent_whole(tmp_path, live_server):
    voice = added(tmp_path, "voice-anna", "1", diarization.ENROLMENT_TASK, "--activate")
    face = added(tmp_path, "face-anna", "1", faces.ENROLMENT_TASK, "--activate")
    weights = tmp_path / "weights.onnx"
    weights.write_bytes(b"plain model weights")
    call_command("aima_models", "add", "detector", "1", str(weights), "--task", "detection")
    model = ModelArtifact.objects.get(name="detector")
    plain = {voice: enrolment("voice-anna 1"), face: enrolment("face-anna 1"),
             model: b"plain model weights"}

    for artifact in (voice, face):
        raw = artifact.path.read_bytes()
        assert raw.startswith(MAGIC) and not plaintext_in(raw)
        assert artifact.sha256 == hashlib.sha256(plain[artifact]).hexdigest()  # agents pin it
        assert artifact.size_bytes == len(plain[artifact])
    assert model.path.read_bytes() == plain[model]  # weights stay as they are

    cache = registered_model_cache(live_server.url, tmp_path / "cache")
    for artifact in (voice, face, model):
        fetched = cache.fetch(artifact.sha256, artifact.filename)  # checks the SHA-256
        assert fetched.read_bytes() == plain[artifact]
    reads = AuditEvent.objects.filter(action=biometric.FETCHED).order_by("seq")
    assert [(e.subject, e.detail["sha256"]) for e in reads] == [
        (f"model:{a.pk}", a.sha256) for a in (voice, face)]
    assert all(e.actor.startswith("agent:") for e in reads)

    # Key rotation seals them again; retiring the old key then loses nothing.
    old = keyring.load().current
    assert biometric.key_of(voice) == old
    key_id, media, _ = rotation.rotate("test")
    assert media == 2 and biometric.key_of(voice) == key_id == biometric.key_of(face)
    assert rotation.retire_old("test") == [old]
    with storage.open_sealed(face.path) as opened:
        assert opened.read() == plain[face]


@pytest.mark.django_db
def test_retiring_an_enrolment_erases_its_file_and_it_never_comes_back(tmp_path, capsys):
    first = added(tmp_path, "voice-anna", "1", diarization.ENROLMENT_TASK, "--activate")
    # Added but never activated: retired from the start, its file kept until retired.
    waiting = added(tmp_path, "face-leo", "1", faces.ENROLMENT_TASK)
    assert waiting.status == ModelStatus.RETIRED and waiting.path.exists()
    # Activating a new version retires, so erases, the one before it.
    second = added(tmp_path, "voice-anna", "2", diarization.ENROLMENT_TASK, "--activate")
    first.refresh_from_db()
    assert first.status == ModelStatus.RETIRED and first.erased_at is not None
    assert not first.path.exists() and second.path.exists()
    with pytest.raises(CommandError, match="erased when it was retired"):
        call_command("aima_models", "rollback", "voice-anna")
    with pytest.raises(CommandError, match="erased when it was retired"):
        call_command("aima_models", "activate", "voice-anna", "1")

    call_command("aima_models", "retire", "voice-anna", "2")
    call_command("aima_models", "retire", "face-leo", "1")
    for artifact in (second, waiting):
        artifact.refresh_from_db()
        assert artifact.status == ModelStatus.RETIRED and artifact.erased_at is not None
        assert not artifact.path.exists()  # the row stays as the record
    assert not list(content.stored(Path(settings.AIMA_MODEL_ROOT)))
    with pytest.raises(CommandError, match="erased when it was retired"):
        call_command("aima_models", "canary", "face-leo", "1", "0.5")
    erased = AuditEvent.objects.filter(action=biometric.ERASED)
    assert sorted(e.subject for e in erased) == sorted(
        f"model:{a.pk}" for a in (first, second, waiting))

    agent = as_agent(enroll().json()["credential"])
    response = agent.get(f"/api/v1/agent-models/{second.sha256}/")
    assert response.status_code == 404 and "erased" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action=biometric.FETCHED).exists()
    # Rotation has nothing left to seal and does not trip over the erased rows.
    assert rotation.reseal_all() == (0, 0)


@pytest.mark.django_db
def test_the_migration_seals_the_plain_enrolments_of_older_installs(tmp_path):
    root = Path(settings.AIMA_MODEL_ROOT)
    rows = {}
    for name, task in (("voice-old", diarization.ENROLMENT_TASK), ("weights", "detection")):
        received = content.receive([f'{{"name": "{NAME}", "of": "{name}"}}'.encode()], root)
        content.keep(received, root)  # plain bytes, as before this change
        rows[name] = ModelArtifact.objects.create(
            name=name, version="1", task=task, sha256=received.sha256,
            size_bytes=received.size_bytes, filename=f"{name}.json")
    voice, weights = rows["voice-old"], rows["weights"]
    before = weights.path.read_bytes()

    migration = importlib.import_module(
        "aima_web.registry.migrations.0003_enrolments_sealed_and_erased")
    state = MigrationLoader(connection).project_state(
        ("registry", "0002_modelartifact_activated_at_and_more"))
    [forwards] = [op for op in migration.Migration.operations if isinstance(op, RunPython)]
    for _ in range(2):  # a second run leaves sealed files as they are
        forwards.code(state.apps, None)
        assert not plaintext_in(voice.path.read_bytes())
    with biometric.open_file(voice) as opened:
        assert hashlib.sha256(opened.read()).hexdigest() == voice.sha256
    assert weights.path.read_bytes() == before
    forwards.reverse_code(state.apps, None)  # migrating back serves plain files again
    assert hashlib.sha256(voice.path.read_bytes()).hexdigest() == voice.sha256
