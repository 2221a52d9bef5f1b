"""Media in over REST, through probe → place → analyse → finalize on real
processes, results out — checked against what the sample media hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import samples
from devtools.stack import Stack

pytestmark = pytest.mark.e2e


def results_by_name(stack: Stack, job_id: str) -> dict[str, dict]:
    return {r["analysis"]: r["data"] for r in stack.api.get(f"/api/v1/jobs/{job_id}/results/")}


def assert_succeeded(job: dict) -> None:
    assert job["state"] == "succeeded", job["error"]
    stamps = [job[k] for k in ("created_at", "probing_at", "placing_at", "queued_at",
                               "running_at", "finished_at")]
    assert all(stamps) and stamps == sorted(stamps)
    assert job["gpu"]["simulated"] is True
    assert job["agent"]["scope"] == "local"


def assert_silence_found(data: dict, expected: tuple[float, float]) -> None:
    spans = [(s["start_s"], s["end_s"]) for s in data["segments"]]
    assert any(abs(a - expected[0]) < 0.1 and abs(b - expected[1]) < 0.1 for a, b in spans), spans


def channel_gap(a: list[int], b: tuple[int, int, int]) -> int:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_video_image_and_audio_end_to_end(stack: Stack, tmp_path: Path):
    video = samples.write_video(tmp_path / "clip.mp4")
    image = samples.write_image(tmp_path / "photo.jpg")
    audio = samples.write_audio(tmp_path / "tone.wav")
    # Submitted together: the agent works through them one by one.
    submitted = {
        "video": stack.api.submit(video.path, confidentiality="confidential"),
        "image": stack.api.submit(image.path, confidentiality="internal", urgency="high"),
        "audio": stack.api.submit(audio.path, confidentiality="public", urgency="low"),
    }
    jobs = {kind: stack.api.wait(job["id"], timeout_s=180) for kind, job in submitted.items()}

    job = jobs["video"]
    assert_succeeded(job)
    assert job["placement"]["queue"] == "gpu.local.24"
    assert job["placement"]["vram_need_gb"] == 24
    assert job["media"]["metadata"]["video"]["width"] == video.width
    assert job["analyses"] == ["loudness", "shots", "silence", "sounds", "vad"]
    found = results_by_name(stack, job["id"])
    assert found["shots"]["cut_count"] == len(video.cut_times_s)
    starts = [shot["start_s"] for shot in found["shots"]["shots"][1:]]
    assert starts == pytest.approx(list(video.cut_times_s), abs=1.5 / video.fps)
    for shot in found["shots"]["shots"]:
        assert shot["start_s"] <= shot["keyframe"]["time_s"] <= shot["end_s"]
    assert found["loudness"]["integrated_lufs"] == pytest.approx(-23.0, abs=1.0)
    assert_silence_found(found["silence"], video.silence_s)
    assert found["vad"]["segments"] == []  # a sine tone is sound, not speech
    assert "speech" not in {event["label"] for event in found["sounds"]["events"]}

    job = jobs["image"]
    assert_succeeded(job)
    assert job["placement"]["queue"] == "gpu.local.16"
    assert job["media"]["metadata"]["image"]["exif"]["Make"] == image.exif["Make"]
    found = results_by_name(stack, job["id"])
    assert len(found["phash"]["phash"]) == 16
    colours = found["colours"]["colours"]
    for rgb, share in image.colours:
        match = min(colours, key=lambda c: channel_gap(c["rgb"], rgb))
        assert channel_gap(match["rgb"], rgb) <= 12
        assert match["share"] == pytest.approx(share, abs=0.06)

    job = jobs["audio"]
    assert_succeeded(job)
    assert job["placement"]["queue"] == "gpu.local.8"
    assert job["media"]["metadata"]["audio"]["sample_rate"] == audio.sample_rate
    found = results_by_name(stack, job["id"])
    # The gap edges fall into some 400 ms blocks: a little below the tone alone.
    assert found["loudness"]["integrated_lufs"] == pytest.approx(-23.0, abs=1.0)
    assert_silence_found(found["silence"], audio.silence_s)


def test_requested_analyses_only(stack: Stack, tmp_path: Path):
    video = samples.write_video(tmp_path / "clip.mp4")
    job = stack.api.submit(video.path, analyses=["loudness"])
    job = stack.api.wait(job["id"])
    assert job["state"] == "succeeded", job["error"]
    assert set(results_by_name(stack, job["id"])) == {"loudness"}


def test_analysis_needing_sound_on_a_silent_video_fails_clearly(stack: Stack, tmp_path: Path):
    video = samples.write_video(tmp_path / "mute.mp4", with_audio=False)
    job = stack.api.wait(stack.api.submit(video.path, analyses=["silence"])["id"])
    assert job["state"] == "failed"
    assert "no sound track" in job["error"]
    assert results_by_name(stack, job["id"]) == {}
