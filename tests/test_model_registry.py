"""The model registry: versions per name, one active, canaries for a share of jobs,
rollback, the admin and the command, and what a placed job is offered."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import CommandError, call_command

from aima_web.audit.models import AuditEvent
from aima_web.registry import services
from aima_web.registry.models import ModelArtifact, ModelStatus

pytestmark = pytest.mark.django_db

TASK = "person-detection"


def stored(tmp_path, name: str, version: str, *extra: str) -> ModelArtifact:
    source = tmp_path / f"{name}-{version}.onnx"
    source.write_bytes(f"{name} {version}".encode())
    call_command("aima_models", "add", name, version, str(source), "--task", TASK, *extra)
    return ModelArtifact.objects.get(name=name, version=version)


@pytest.fixture(autouse=True)
def model_root(settings, tmp_path):
    settings.AIMA_MODEL_ROOT = tmp_path / "models"


def test_activating_a_version_retires_the_other_and_rollback_returns_to_it(tmp_path):
    first = stored(tmp_path, "yolo", "1", "--activate")
    second = stored(tmp_path, "yolo", "2", "--activate", "--min-vram", "6", "--precision", "fp16")
    first.refresh_from_db()
    assert (first.status, second.status) == (ModelStatus.RETIRED, ModelStatus.ACTIVE)
    assert [c.version for c in services.choices_for(TASK, "job")] == ["2"]
    assert services.choices_for(TASK, "job")[0].precision == "fp16"

    restored = services.roll_back("yolo", "tester")
    second.refresh_from_db()
    assert restored.version == "1" and second.status == ModelStatus.RETIRED
    assert [c.version for c in services.choices_for(TASK, "job")] == ["1"]
    assert AuditEvent.objects.filter(action="model.rolled_back").count() == 1
    # A second rollback goes back to version 2, the one active before 1 came back.
    assert services.roll_back("yolo", "tester").version == "2"


def test_rollback_without_history_says_why(tmp_path):
    stored(tmp_path, "yolo", "1", "--activate")
    with pytest.raises(services.RegistryError, match="nothing to roll back to"):
        services.roll_back("yolo", "tester")
    with pytest.raises(CommandError, match="nothing to roll back to"):
        call_command("aima_models", "rollback", "yolo")
    with pytest.raises(CommandError, match="has no active version"):
        call_command("aima_models", "rollback", "nothing")


def test_a_canary_gets_its_share_of_jobs_and_keeps_each_job(tmp_path):
    stored(tmp_path, "yolo", "1", "--activate")
    stored(tmp_path, "yolo", "2", "--canary", "0.25")
    jobs = [str(uuid.UUID(int=i)) for i in range(2000)]
    picked = [services.choices_for(TASK, job)[0] for job in jobs]
    canaries = [c for c in picked if c.canary]
    assert all(c.version == "2" for c in canaries)
    assert 0.21 < len(canaries) / len(jobs) < 0.29
    # The same job always gets the same version (a redelivered or re-placed job).
    assert [services.choices_for(TASK, job)[0].version for job in jobs[:50]] == [
        c.version for c in picked[:50]]


def test_retired_and_other_task_models_are_not_offered(tmp_path):
    stored(tmp_path, "yolo", "1")  # added, never activated: retired
    other = tmp_path / "asr.onnx"
    other.write_bytes(b"asr")
    call_command("aima_models", "add", "asr", "1", str(other), "--task", "speech", "--activate")
    assert services.choices_for(TASK, "job") == ()
    assert services.choices_for("", "job") == ()


def test_variants_of_a_task_are_all_offered(tmp_path):
    stored(tmp_path, "yolo-n", "1", "--activate", "--min-vram", "2")
    stored(tmp_path, "yolo-x", "1", "--activate", "--min-vram", "30",
           "--config", '{"labels": ["person"], "input_size": 640}')
    offered = {c.name: c for c in services.choices_for(TASK, "job")}
    assert set(offered) == {"yolo-n", "yolo-x"}
    assert offered["yolo-x"].config == {"labels": ["person"], "input_size": 640}


def test_the_command_checks_what_it_is_given(tmp_path, capsys):
    with pytest.raises(CommandError, match="JSON object"):
        stored(tmp_path, "yolo", "1", "--config", "[1]")
    for bad in (("--canary", "1.5"), ("--min-vram", "-2"), ("--min-vram", "lots")):
        with pytest.raises(CommandError, match="write"):
            stored(tmp_path, "yolo", "0", *bad)
    assert not ModelArtifact.objects.exists()  # refused before anything was stored
    assert not [f for f in (tmp_path / "models").rglob("*") if f.is_file()]
    with pytest.raises(CommandError, match="no model yolo 9"):
        call_command("aima_models", "activate", "yolo", "9")
    stored(tmp_path, "yolo", "1")
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("aima_models", "canary", "yolo", "1", "1.5")
    assert ModelArtifact.objects.get().status == ModelStatus.RETIRED  # nothing half-done
    call_command("aima_models", "canary", "yolo", "1", "0.1")
    assert "yolo 1 is canary for 10% of jobs" in capsys.readouterr().out
    call_command("aima_models", "list")
    assert "yolo\t1\tperson-detection\tcanary\t0.1\tfp32" in capsys.readouterr().out


def test_the_admin_edits_status_through_the_registry_and_rolls_back(admin_client, tmp_path):
    first = stored(tmp_path, "yolo", "1", "--activate")
    second = stored(tmp_path, "yolo", "2")
    page = admin_client.get(f"/admin/registry/modelartifact/{second.id}/change/")
    assert page.status_code == 200 and b'name="sha256"' not in page.content
    changed = admin_client.post(f"/admin/registry/modelartifact/{second.id}/change/", {
        "task": TASK, "status": "active", "canary_share": "0", "precision": "fp16",
        "min_vram_gb": "4", "config": "{}"})
    assert changed.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ModelStatus.RETIRED
    assert (second.status, second.precision, second.min_vram_gb) == ("active", "fp16", 4.0)
    assert second.activated_at is not None
    admin_client.post("/admin/registry/modelartifact/", {
        "action": "roll_back", "_selected_action": [second.id]})
    first.refresh_from_db()
    assert first.status == ModelStatus.ACTIVE
