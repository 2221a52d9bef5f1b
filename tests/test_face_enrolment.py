"""Enrolled faces, end to end short of the broker: a photo enrolled with
``python -m agents enrol-face``, stored in the model registry as a face-enrolment
artifact and activated; a placed faces job's units carry every active enrolment; an
agent fetches them from the control plane into its model cache, runs the analysis on
each segment, and the joined result names the face it knows and no other."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from agents import adaptive, analyzers
from agents.cli import main as agent_cli
from agents.model_cache import ModelCache
from agents.worker import analysis_context
from aima_tasks.kernel.analyses.faces import ENROLMENT_TASK, FACES
from aima_tasks.kernel.work import AnalysisWork
from aima_web.jobs import services
from aima_web.jobs.models import Job, MediaAsset
from aima_web.registry.models import ModelArtifact
from tests.agent_api import registered_model_cache
from tests.analyzers import photos
from tests.analyzers.test_faces import astronaut_views, rgb, write_shots

CPU = adaptive.GpuFacts(vram_gb=0.0, device="cpu")


def enrolled(tmp_path, name: str, picture: np.ndarray, *, activate: bool = True) -> str:
    """A face enrolled by the agent's command and added to the registry."""
    photo = tmp_path / f"{name.lower()}.png"
    Image.fromarray(picture).save(photo)
    target = tmp_path / f"{name.lower()}.json"
    assert agent_cli(["enrol-face", str(photo), "--name", name, "-o", str(target)]) == 0
    call_command("aima_models", "add", f"face-{name.lower()}", "1", str(target),
                 "--task", ENROLMENT_TASK, *(["--activate"] if activate else []))
    return json.loads(target.read_text())["name"]


@pytest.fixture
def cache(live_server, tmp_path) -> ModelCache:
    return registered_model_cache(live_server.url, tmp_path / "cache", scope="local")


@pytest.mark.django_db(transaction=True)
def test_an_enrolled_face_travels_with_the_job_and_names_its_cluster(
        tmp_path, settings, alice, cache):
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    # Enrolled from a view of the astronaut that the video does not show.
    enrolled(tmp_path, "Eileen", astronaut_views()[2])
    enrolled(tmp_path, "Leo", rgb(photos.FOOTBALLER.path), activate=False)
    media = write_shots(tmp_path / "shots.mp4")
    asset = MediaAsset.objects.create(sha256="ab" * 32, size_bytes=media.stat().st_size,
                                      media_type="video", metadata={"duration_s": 5.0})
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                             analyses=["faces"], segments=[[0.0, 2.5], [2.5, 5.0]])

    units = [AnalysisWork.from_dict(unit.to_dict()) for unit in services.units_of(job)]
    assert len(units) == 2
    for unit in units:  # every active enrolment, beside (not among) the model variants
        assert "faces" not in unit.models
        assert [c.name for c in unit.models[FACES.references_key]] == ["face-eileen"]

    parts = []
    for unit in units:
        ctx, meta = analysis_context("faces", unit, CPU, cache)
        assert [r.name for r in ctx.references] == ["face-eileen"]
        assert {r["name"] for r in meta["references"]} == {"face-eileen"}
        parts.append(analyzers.run("faces", media, ctx))
    joined = FACES.merge(parts)
    # The astronaut named; the footballer (enrolled, never activated) and the
    # basketball player (never enrolled) not.
    assert [(c["label"], c["name"]) for c in joined["clusters"]] == [
        ("F1", "Eileen"), ("F2", None), ("F3", None)]
    assert [f["name"] for f in joined["faces"]] == ["Eileen"] * 2 + [None] * 4 + ["Eileen"] * 2 \
        + [None] * 2
    stored = ModelArtifact.objects.get(name="face-eileen")
    assert (cache.root / stored.sha256 / stored.filename).exists()


@pytest.mark.django_db
def test_without_enrolments_nothing_travels(alice):
    assert services.model_choices("job", ["faces"]) == {}


PROBLEMS = ["no photo", "not a picture", "no face", "two faces", "two people", "blank name",
            "unwritable"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_bad_enrolment_input_exits_2_with_one_line_and_writes_nothing(
        tmp_path, capsys, problem):
    pictures = {"face": astronaut_views()[0], "other": rgb(photos.FOOTBALLER.path),
                "nobody": rgb(photos.NOBODY[0].path)}
    other = pictures["other"]  # beside the astronaut, her picture cut to its height
    pictures["both"] = np.concatenate([rgb(photos.ASTRONAUT.path)[:len(other)], other], axis=1)
    for key, picture in pictures.items():
        Image.fromarray(picture).save(tmp_path / f"{key}.png")
    (tmp_path / "text.png").write_text("no picture")
    face, target = str(tmp_path / "face.png"), tmp_path / "face.json"
    args = {"no photo": [str(tmp_path / "missing.png"), "--name", "A", "-o", str(target)],
            "not a picture": [str(tmp_path / "text.png"), "--name", "A", "-o", str(target)],
            "no face": [str(tmp_path / "nobody.png"), "--name", "A", "-o", str(target)],
            "two faces": [str(tmp_path / "both.png"), "--name", "A", "-o", str(target)],
            "two people": [face, str(tmp_path / "other.png"), "--name", "A", "-o", str(target)],
            "blank name": [face, "--name", "  ", "-o", str(target)],
            "unwritable": [face, "--name", "A", "-o", str(tmp_path / "no" / "f.json")]}
    assert agent_cli(["enrol-face", *args[problem]]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("aima enrol-face: ")
    assert not target.exists() and not (tmp_path / "no").exists()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".png"] * 5


def test_the_command_says_one_line_though_mediapipe_talks_on_its_own(tmp_path):
    """MediaPipe and TFLite write to the process's stderr at start-up: only a process
    of its own shows that the command keeps its error to one line."""
    photo = tmp_path / "nobody.png"
    Image.fromarray(rgb(photos.NOBODY[0].path)).save(photo)
    done = subprocess.run(
        [sys.executable, "-m", "agents", "enrol-face", str(photo), "--name", "A", "-o",
         str(tmp_path / "a.json")], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"aima enrol-face: {photo}: no faces found, it needs "
                                        "exactly one"]
