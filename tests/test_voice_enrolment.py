"""Enrolled voices, end to end short of the broker: a clip enrolled with
``python -m agents enrol-voice``, stored in the model registry as a voice-enrolment
artifact and activated; a placed speakers job's units carry every active enrolment;
an agent fetches them from the control plane into its model cache, runs the
analysis on each segment, and the joined result names the speaker."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command

from agents import adaptive, analyzers
from agents.cli import main as agent_cli
from agents.model_cache import ModelCache
from agents.samples import write_wav
from agents.worker import analysis_context
from aima_tasks.kernel.analyses.diarization import ENROLMENT_TASK, SPEAKERS
from aima_tasks.kernel.work import AnalysisWork
from aima_web.jobs import services
from aima_web.jobs.models import Job, MediaAsset
from aima_web.registry.models import ModelArtifact
from tests.agent_api import registered_model_cache
from tests.analyzers.test_speakers import FIRST, RATE, SECOND, conversation, line_pcm

CPU = adaptive.GpuFacts(vram_gb=0.0, device="cpu")


def enrolled(tmp_path, name: str, text: str, voice: str, *, activate: bool = True) -> str:
    """A voice enrolled by the agent's command and added to the registry."""
    clip = write_wav(tmp_path / f"{name}.wav", np.round(line_pcm(tmp_path, text, voice)), RATE)
    target = tmp_path / f"{name.lower()}.json"
    assert agent_cli(["enrol-voice", str(clip), "--name", name, "-o", str(target)]) == 0
    call_command("aima_models", "add", f"voice-{name.lower()}", "1", str(target),
                 "--task", ENROLMENT_TASK, *(["--activate"] if activate else []))
    return json.loads(target.read_text())["name"]


@pytest.fixture
def cache(live_server, tmp_path) -> ModelCache:
    return registered_model_cache(live_server.url, tmp_path / "cache", scope="local")


@pytest.mark.django_db(transaction=True)
def test_an_enrolled_voice_travels_with_the_job_and_names_its_speaker(
        tmp_path, settings, alice, cache):
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    enrolled(tmp_path, "Anna", "My name is Anna and I live in a small town by the sea.", SECOND)
    # Another voice, within the clustering threshold of the first speaker (0.21) but not
    # within the naming one. (espeak's "de" would be named: it is en-us's very voice.)
    enrolled(tmp_path, "Otto", "Hello, my name is Otto and I live in Bremen.", "en-us+m7")
    enrolled(tmp_path, "Rita", "I was enrolled but never activated.", FIRST, activate=False)
    media = tmp_path / "dialogue.wav"
    truth = conversation(media, [FIRST, SECOND])
    middle = truth[2][1] + 0.25
    asset = MediaAsset.objects.create(sha256="ab" * 32, size_bytes=media.stat().st_size,
                                      media_type="audio", metadata={"duration_s": 20.0})
    job = Job.objects.create(owner=alice, media=asset, confidentiality="internal",
                             analyses=["speakers"],
                             segments=[[0.0, middle], [middle, truth[-1][1] + 0.5]])

    units = [AnalysisWork.from_dict(unit.to_dict()) for unit in services.units_of(job)]
    assert len(units) == 2
    for unit in units:  # every active enrolment, beside (not among) the model variants
        assert "speakers" not in unit.models
        assert sorted(c.name for c in unit.models[SPEAKERS.references_key]) == [
            "voice-anna", "voice-otto"]

    parts = []
    for unit in units:
        ctx, meta = analysis_context("speakers", unit, CPU, cache)
        assert sorted(r.name for r in ctx.references) == ["voice-anna", "voice-otto"]
        assert {r["name"] for r in meta["references"]} == {"voice-anna", "voice-otto"}
        parts.append(analyzers.run("speakers", media, ctx))
    joined = SPEAKERS.merge(parts)
    assert [(s["label"], s["name"]) for s in joined["speakers"]] == [("S1", None), ("S2", "Anna")]
    assert [t["speaker"] for t in joined["turns"]] == ["S1", "S2"] * 3
    # The enrolment files were fetched over the API into the agent's cache, by checksum.
    stored = ModelArtifact.objects.get(name="voice-anna")
    assert (cache.root / stored.sha256 / stored.filename).exists()


@pytest.mark.django_db
def test_without_enrolments_nothing_travels(alice):
    assert services.model_choices("job", ["speakers"]) == {}


@pytest.mark.parametrize("problem", ["no clip", "no speech", "blank name", "unwritable"])
def test_bad_enrolment_input_exits_2_with_one_line_and_writes_nothing(
        tmp_path, capsys, problem):
    clip = tmp_path / "clip.wav"
    write_wav(clip, np.round(line_pcm(tmp_path, "Good morning to you all.", FIRST)), RATE)
    target = tmp_path / "voice.json"
    args = {"no clip": [str(tmp_path / "missing.wav"), "--name", "A", "-o", str(target)],
            "no speech": [str(write_wav(tmp_path / "quiet.wav", np.zeros(RATE), RATE)),
                          "--name", "A", "-o", str(target)],
            "blank name": [str(clip), "--name", "  ", "-o", str(target)],
            "unwritable": [str(clip), "--name", "A", "-o", str(tmp_path / "no" / "v.json")]}
    assert agent_cli(["enrol-voice", *args[problem]]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("aima enrol-voice: ")
    assert not target.exists() and not (tmp_path / "no").exists()
