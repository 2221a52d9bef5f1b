"""Model artifacts: stored on the control plane by `aima_models add`, fetched
by a real agent client into its cache, verified by SHA-256 before every use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents.control_plane import ChecksumMismatch, ControlPlaneError
from agents.model_cache import ModelCache
from aima_web.registry.models import ModelArtifact
from tests.agent_api import registered_model_cache

WEIGHTS = b"\x08\x07ONNX-ish weights " * 4096


@pytest.fixture
def artifact(tmp_path, settings) -> ModelArtifact:
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    source = tmp_path / "person.onnx"
    source.write_bytes(WEIGHTS)
    call_command("aima_models", "add", "person", "1.0", str(source),
                 "--sha256", hashlib.sha256(WEIGHTS).hexdigest())
    return ModelArtifact.objects.get()


@pytest.fixture
def cache(live_server, tmp_path) -> ModelCache:
    return registered_model_cache(live_server.url, tmp_path / "cache", scope="cloud")


@pytest.mark.django_db(transaction=True)
def test_fetched_once_verified_kept_by_checksum(artifact, cache):
    path = cache.fetch(artifact.sha256, artifact.filename)
    assert path == cache.root / artifact.sha256 / "person.onnx"
    assert path.read_bytes() == WEIGHTS
    # Kept: no second download (the control plane has lost its copy meanwhile).
    artifact.path.unlink()
    assert cache.fetch(artifact.sha256, artifact.filename) == path
    assert [p.name for p in path.parent.iterdir()] == ["person.onnx"]


@pytest.mark.django_db(transaction=True)
def test_a_copy_damaged_on_disk_is_fetched_again(artifact, cache):
    path = cache.fetch(artifact.sha256, artifact.filename)
    path.write_bytes(WEIGHTS[:-1] + b"!")
    assert cache.fetch(artifact.sha256, artifact.filename).read_bytes() == WEIGHTS


@pytest.mark.django_db(transaction=True)
def test_other_bytes_than_the_checksum_are_refused_and_nothing_kept(artifact, cache):
    artifact.path.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match=f"expected {artifact.sha256}: refused"):
        cache.fetch(artifact.sha256, artifact.filename)
    assert list((cache.root / artifact.sha256).iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_an_unknown_artifact_is_a_clear_error(artifact, cache):
    with pytest.raises(ControlPlaneError, match="404"):
        cache.fetch("0" * 64, "x.onnx")


@pytest.mark.django_db
def test_the_command_refuses_a_file_that_is_not_what_it_should_be(tmp_path, settings):
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    source = tmp_path / "m.onnx"
    source.write_bytes(WEIGHTS)
    with pytest.raises(CommandError, match=r"not the 0{64} given: refused, nothing stored"):
        call_command("aima_models", "add", "m", "1", str(source), "--sha256", "0" * 64)
    assert not ModelArtifact.objects.exists()
    assert [p for p in Path(settings.AIMA_MODEL_ROOT).rglob("*") if p.is_file()] == []
    call_command("aima_models", "add", "m", "1", str(source))
    with pytest.raises(CommandError, match="m 1 is stored already"):
        call_command("aima_models", "add", "m", "1", str(source))
    with pytest.raises(CommandError, match="stored already, as m 1"):
        call_command("aima_models", "add", "m", "2", str(source))
    with pytest.raises(CommandError, match="write 64 hex digits"):
        call_command("aima_models", "add", "m", "3", str(source), "--sha256", "abc")
