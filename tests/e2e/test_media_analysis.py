"""Real models on real media through the whole system: people tracked across a
video cut into segments, speech transcribed, a registry model run on ONNX Runtime
and a damaged one refused, and a segmented job whose agent dies mid-way finished
without redoing the segments already stored."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from aima_web.core import content
from devtools import stack as local_stack
from tests.analyzers import speech_media, vision_media
from tests.analyzers.test_onnx_detector import WHITE_AT, build_tiny_detector, picture
from tests.e2e import cloud
from tests.e2e.test_agent_lifecycle import LOST_AFTER_S, needs_rabbitmq, start_agent

pytestmark = pytest.mark.e2e

GPU = "E2E Analyst (simulated):24"
SEGMENT_S = 2.0
SENTENCE = "i would like to buy a ticket to new york city"
CONTENT_WORDS = {"like", "buy", "ticket", "new", "york", "city"}


@pytest.fixture
def start(start_stack, tmp_path: Path) -> Callable[[], local_stack.Stack]:
    # A killed agent's units pass to another one once it is lost (no heartbeat for this long).
    return lambda: start_stack(GPU, username="analyst", AIMA_SEGMENT_S=str(SEGMENT_S),
                               AIMA_MODEL_ROOT=str(tmp_path / "models"),
                               AIMA_AGENT_WORKDIR=str(tmp_path / "agent"),
                               AIMA_AGENT_OFFLINE_AFTER_S=LOST_AFTER_S)


def report(stack: local_stack.Stack, job_id: str) -> dict:
    return stack.api.get(f"/api/v1/jobs/{job_id}/report/")


def succeeded(stack: local_stack.Stack, job_id: str, timeout_s: float = 180) -> dict:
    job = stack.api.wait(job_id, timeout_s=timeout_s)
    assert job["state"] == "succeeded", job["error"]
    return report(stack, job_id)


def test_people_tracked_across_segments_and_speech_transcribed(start, tmp_path: Path):
    stack = start()
    video = vision_media.moving_figure_video(tmp_path / "walk.mp4", seconds=4.0)
    photo = vision_media.person_photo()
    speech = speech_media.spoken(tmp_path / "speech.wav", SENTENCE)
    walk = stack.api.submit(video, analyses=["people", "shots"])["id"]
    portrait = stack.api.submit(photo)["id"]  # objects runs by default on pictures
    talk = stack.api.submit(speech, analyses=["vad", "transcript"])["id"]

    walked = succeeded(stack, walk)
    # Cut in two segments, analysed apart, joined into one person walking through.
    assert walked["job"]["segments"] == [[0.0, 2.0], [2.0, 4.0]]
    [track] = walked["timeline"]["tracks"]
    assert track["start_s"] < 0.3 and track["end_s"] > 3.5
    assert track["boxes"][-1]["box"][0] > track["boxes"][0]["box"][0]  # left to right
    people = next(a for a in walked["analyses"] if a["analysis"] == "people")
    assert [s["index"] for s in people["segments"]] == [0, 1]
    assert people["models"][0]["name"] == "mediapipe-pose-detection"
    assert len(people["models"][0]["sha256"]) == 64 and people["device"] == "cpu"

    pictured = succeeded(stack, portrait)
    assert [d["label"] for d in pictured["timeline"]["detections"]] == ["person"]

    heard = succeeded(stack, talk)
    # Whisper writes words as a transcript reads: capitalised, with their punctuation.
    words = {w["word"].lower().strip(".,?!") for w in heard["transcript"]["words"]}
    assert len(words & CONTENT_WORDS) >= 4, words
    assert any(span["kind"] == "speech" for span in heard["speech_map"])


def store_model(stack: local_stack.Stack, path: Path, version: str) -> str:
    local_stack.manage(stack.supervisor.env, "aima_models", "add", "tiny-yolo", version,
                       str(path), "--task", "person-detection", "--activate",
                       "--config", '{"labels": ["person", "car"]}')
    listed = local_stack.manage(stack.supervisor.env, "aima_models", "list")
    return next(line.split("\t")[8] for line in listed.splitlines()
                if line.startswith(f"tiny-yolo\t{version}\t"))


def test_a_registry_model_runs_and_a_damaged_one_fails_the_job_clearly(
        start, tmp_path: Path):
    stack = start()
    square = tmp_path / "square.png"
    Image.fromarray(picture(white=WHITE_AT)).save(square)
    good = store_model(stack, build_tiny_detector(tmp_path / "tiny.onnx"), "1")

    job_id = stack.api.submit(square, analyses=["objects"])["id"]
    found = succeeded(stack, job_id)
    [detection] = found["timeline"]["detections"]
    assert detection["label"] == "person" and detection["source"] == "onnx"
    [step] = found["analyses"]
    assert step["models"][0]["sha256"] == good and step["precision"] == "fp32"
    [result] = stack.api.get(f"/api/v1/jobs/{job_id}/results/")
    assert result["meta"]["models"] == [
        {"name": "tiny-yolo", "version": "1", "sha256": good, "canary": False}]
    assert result["meta"]["device"] == "cpu" and result["meta"]["batch_size"] == 1

    # Version 2 is damaged on the control plane's disk after it was registered.
    bad = store_model(stack, build_tiny_detector(tmp_path / "tiny16.onnx", fp16=True), "2")
    stored = content.address(Path(stack.supervisor.env["AIMA_MODEL_ROOT"]), bad)
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    job = stack.api.wait(stack.api.submit(square, analyses=["objects"])["id"], timeout_s=120)
    assert job["state"] == "failed"
    assert job["error"].startswith(f"objects: model tiny-yolo 2 refused: model artifact "
                                   f"{bad[:12]} arrived with sha256 ")
    assert f"expected {bad}: refused" in job["error"]


@needs_rabbitmq
def test_an_agent_dying_mid_job_leaves_the_stored_segments_alone(start, tmp_path: Path):
    stack = start()
    video = vision_media.moving_figure_video(tmp_path / "long-walk.mp4", seconds=12.0)
    job_id = stack.api.submit(video, analyses=["people"])["id"]

    def done_parts() -> int:
        pending = report(stack, job_id)["job"]["pending"]
        return pending[0]["segments_done"] if pending else 0

    cloud.wait_until("two segments stored", lambda: done_parts() >= 2, timeout_s=120,
                     every_s=0.1)
    [agent] = [p for p in stack.supervisor.processes if p.name == "agent" and p.alive()]
    os.kill(agent.popen.pid, signal.SIGKILL)
    agent.popen.wait(10)
    killed_at = datetime.now(UTC)
    replacement = start_agent(stack, GPU, "agent-2")

    final = succeeded(stack, job_id, timeout_s=240)
    [people] = final["analyses"]
    parts = people["segments"]
    assert [p["index"] for p in parts] == list(range(6))  # every segment stored once
    kept = {p["index"] for p in parts if datetime.fromisoformat(p["finished_at"]) < killed_at}
    redone = [int(n) for n in re.findall(rf"job {job_id} segment (\d+) ",
                                         replacement.log_path.read_text())]
    # The replacement analysed exactly the segments that were not stored: none twice,
    # none of those the first agent had finished.
    assert len(kept) >= 2
    assert sorted(redone) == sorted(set(range(6)) - kept), (kept, redone)
    [track] = final["timeline"]["tracks"]
    assert track["start_s"] < 0.3 and track["end_s"] > 11.5
