"""The analyses against synthetic media whose truth is known. No Django, no database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agents import analyzers, samples
from agents.analyzers import audio, image, video
from agents.analyzers.decode import NoAudioTrack, decode_audio
from agents.analyzers.iir import lfilter
from aima_tasks.kernel.analyses import catalogue

HEX16 = set("0123456789abcdef")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analyzers")


@pytest.fixture(scope="module")
def clip(folder: Path) -> samples.VideoSample:
    return samples.write_video(folder / "clip.mp4")


def json_safe(data: dict) -> dict:
    return json.loads(json.dumps(data, allow_nan=False))


# --- registry -----------------------------------------------------------------------------


def test_every_catalogue_entry_has_a_runner_on_the_agent() -> None:
    assert {"shots", "phash", "colours", "loudness", "silence", "people", "objects", "vad",
            "transcript"} <= set(catalogue().specs)
    for name in catalogue().specs:
        assert callable(analyzers.runner(name)), name


def test_unknown_analyzer_is_a_key_error_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(analyzers.UnknownAnalyzer, match="no analyser named 'ocr'") as caught:
        analyzers.run("ocr", tmp_path / "x.mp4")
    assert isinstance(caught.value, KeyError)
    assert "shots" in str(caught.value)


# --- shots --------------------------------------------------------------------------------


def test_shots_finds_the_cuts(clip: samples.VideoSample) -> None:
    result = json_safe(analyzers.run("shots", clip.path))
    frame_s = 1 / clip.fps
    assert result["cut_count"] == len(clip.cut_times_s) == 2
    assert result["frames_analysed"] == clip.frame_count
    assert result["fps"] == pytest.approx(clip.fps)
    assert result["duration_s"] == pytest.approx(clip.duration_s, abs=frame_s)
    found = result["shots"]
    assert len(found) == 3
    for shot, expected in zip(found[1:], clip.cut_times_s, strict=True):
        assert shot["start_s"] == pytest.approx(expected, abs=frame_s + 1e-6)
    for index, shot in enumerate(found):
        key = shot["keyframe"]
        assert shot["index"] == index
        assert shot["start_frame"] <= key["frame"] <= shot["end_frame"]
        assert shot["start_s"] <= key["time_s"] < shot["end_s"]
        assert len(key["dhash"]) == 16 and set(key["dhash"]) <= HEX16
    assert found[0]["start_s"] == 0 and found[-1]["end_frame"] == clip.frame_count - 1
    scene_colours = [colour for colour, _ in samples.DEFAULT_SCENES]
    for shot, colour in zip(found, scene_colours, strict=True):
        assert np.abs(np.array(shot["keyframe"]["mean_rgb"]) - colour).max() < 20


def test_moving_box_in_one_scene_is_one_shot(folder: Path) -> None:
    sample = samples.write_video(
        folder / "one.mp4", scenes=[((90, 120, 160), 3.0)], with_audio=False
    )
    result = analyzers.run("shots", sample.path)
    assert result["cut_count"] == 0
    assert len(result["shots"]) == 1
    assert result["shots"][0]["end_frame"] == sample.frame_count - 1


def test_cut_detector_ignores_fades_and_noise() -> None:
    rng = np.random.default_rng(3)
    noise = np.abs(rng.normal(0.03, 0.01, 120))
    # A slow dissolve or a burst of fast motion: big changes, but for many frames running.
    fade = np.concatenate([np.full(40, 0.01), np.full(30, 0.15), np.full(50, 0.01)])
    assert video.detect_cuts(noise, fps=25) == []
    assert video.detect_cuts(fade, fps=25) == []
    spiky = noise.copy()
    spiky[[30, 90]] = 0.6
    assert video.detect_cuts(spiky, fps=25) == [30, 90]


def test_keyframe_hash_is_the_image_hash() -> None:
    assert video.dhash_of_array is image.dhash_of_array


# --- phash / colours ----------------------------------------------------------------------


def test_phash_survives_resizing_but_tells_pictures_apart(folder: Path) -> None:
    original = samples.write_textured_image(folder / "texture.png", seed=1)
    half = folder / "texture-half.jpg"
    with Image.open(original) as full:
        full.resize((full.width // 2, full.height // 2), Image.Resampling.LANCZOS).save(half)
    other = samples.write_textured_image(folder / "other.png", seed=2)

    a, b, c = (json_safe(analyzers.run("phash", p)) for p in (original, half, other))
    for result in (a, b, c):
        assert len(result["phash"]) == 16 and set(result["phash"]) <= HEX16
        assert len(result["dhash"]) == 16 and set(result["dhash"]) <= HEX16
    assert (a["width"], a["height"]) == (256, 192)
    assert (b["width"], b["height"]) == (128, 96)
    assert image.hamming(a["phash"], b["phash"]) <= 4
    assert image.hamming(a["dhash"], b["dhash"]) <= 6
    assert image.hamming(a["phash"], c["phash"]) >= 16


def test_colours_recovers_the_known_palette(folder: Path) -> None:
    sample = samples.write_image(folder / "bands.jpg")
    found = json_safe(analyzers.run("colours", sample.path))["colours"]
    assert 1 <= len(found) <= 5
    shares = [c["share"] for c in found]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1.0, abs=0.01)
    for colour, share in sample.colours:
        match = min(found, key=lambda c: np.abs(np.array(c["rgb"]) - colour).max())
        assert np.abs(np.array(match["rgb"]) - colour).max() <= 10
        assert match["share"] == pytest.approx(share, abs=0.05)
        assert match["hex"] == "#{:02x}{:02x}{:02x}".format(*match["rgb"])


def test_colours_is_deterministic(folder: Path) -> None:
    path = samples.write_textured_image(folder / "busy.jpg", seed=5)
    assert analyzers.run("colours", path) == analyzers.run("colours", path)


# --- loudness / silence -------------------------------------------------------------------


def test_k_weighting_matches_the_standard_at_48k() -> None:
    shelf, high_pass = audio.k_weighting(48_000)
    # ITU-R BS.1770-4, tables 1 and 2.
    assert shelf.b == pytest.approx((1.53512485958697, -2.69169618940638, 1.19839281085285))
    assert shelf.a == pytest.approx((1.0, -1.69065929318241, 0.73248077421585))
    assert high_pass.b == pytest.approx((1.0, -2.0, 1.0))
    assert high_pass.a == pytest.approx((1.0, -1.99004745483398, 0.99007225036621))


def test_block_iir_filter_matches_the_textbook_loop() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal(1500)
    b, a = np.array([0.3, -0.2, 0.15]), np.array([1.0, -1.2, 0.5])
    expected = np.zeros_like(x)
    for n in range(len(x)):
        expected[n] = sum(b[k] * x[n - k] for k in range(3) if n >= k) - sum(
            a[k] * expected[n - k] for k in (1, 2) if n >= k
        )
    whole, _ = lfilter(b, a, x)
    np.testing.assert_allclose(whole, expected, atol=1e-9)
    pieces, state = [], None
    for part in np.split(x, [1, 3, 200, 1499]):  # chunks, some shorter than the order
        out, state = lfilter(b, a, part, state)
        pieces.append(out)
    np.testing.assert_allclose(np.concatenate(pieces), expected, atol=1e-9)


@pytest.mark.parametrize(("amplitude", "lufs"), [(0.1, -23.0), (1.0, -3.01)])
def test_loudness_of_a_1khz_sine(folder: Path, amplitude: float, lufs: float) -> None:
    sample = samples.write_audio(
        folder / f"sine-{amplitude}.wav", tone_s=3.0, silence_s=0, tail_s=0, amplitude=amplitude
    )
    result = json_safe(analyzers.run("loudness", sample.path))
    assert result["integrated_lufs"] == pytest.approx(lufs, abs=0.3)
    assert result["sample_peak_dbfs"] == pytest.approx(20 * np.log10(amplitude), abs=0.1)
    assert result["rms_dbfs"] == pytest.approx(20 * np.log10(amplitude) - 3.01, abs=0.1)
    assert [point["t"] for point in result["momentary"]] == [1.0, 2.0, 3.0]
    for point in result["momentary"]:
        assert point["lufs"] == pytest.approx(lufs, abs=0.3)


def test_loudness_of_silence_is_none(folder: Path) -> None:
    sample = samples.write_audio(
        folder / "hush.wav", tone_s=0.5, silence_s=0, tail_s=0, amplitude=0.0
    )
    result = json_safe(analyzers.run("loudness", sample.path))
    assert result["integrated_lufs"] is None and result["sample_peak_dbfs"] is None


def test_loudness_resamples_and_sums_channels(folder: Path) -> None:
    # Two identical channels carry twice the power of one: +3 dB (BS.1770 sums channels).
    sample = samples.write_audio(
        folder / "stereo.wav", tone_s=2.0, silence_s=0, tail_s=0, sample_rate=44_100, channels=2
    )
    result = analyzers.run("loudness", sample.path)
    assert result["integrated_lufs"] == pytest.approx(-20.0, abs=0.3)
    assert result["channels"] == 2


def test_silence_finds_the_gap(folder: Path) -> None:
    sample = samples.write_audio(folder / "gap.wav")
    result = json_safe(analyzers.run("silence", sample.path))
    assert len(result["segments"]) == 1
    segment = result["segments"][0]
    assert segment["start_s"] == pytest.approx(sample.silence_s[0], abs=0.05)
    assert segment["end_s"] == pytest.approx(sample.silence_s[1], abs=0.05)
    gap = sample.silence_s[1] - sample.silence_s[0]
    assert result["silent_share"] == pytest.approx(gap / sample.duration_s, abs=0.03)
    assert result["silent_share"] + result["sound_share"] == pytest.approx(1.0)
    assert result["duration_s"] == pytest.approx(sample.duration_s, abs=0.01)


def test_short_pause_is_not_silence(folder: Path) -> None:
    sample = samples.write_audio(folder / "pause.wav", silence_s=0.2)
    assert analyzers.run("silence", sample.path)["segments"] == []


def test_sound_track_of_a_video(clip: samples.VideoSample) -> None:
    heard = json_safe(analyzers.run("silence", clip.path))
    assert len(heard["segments"]) == 1
    segment = heard["segments"][0]
    assert segment["start_s"] == pytest.approx(clip.silence_s[0], abs=0.05)
    assert segment["end_s"] == pytest.approx(clip.silence_s[1], abs=0.05)
    loud = json_safe(analyzers.run("loudness", clip.path))
    tone_lufs = 20 * np.log10(clip.tone_amplitude) - 3.01
    # Blocks straddling the gap pass the relative gate and pull the figure down a little.
    assert tone_lufs - 1.0 <= loud["integrated_lufs"] <= tone_lufs + 0.3


def test_video_without_sound_has_nothing_to_measure(folder: Path) -> None:
    sample = samples.write_video(folder / "mute.mp4", scenes=[((0, 0, 0), 1.0)], with_audio=False)
    with pytest.raises(NoAudioTrack):
        analyzers.run("loudness", sample.path)


def test_decoded_audio_is_mono_float_at_48k(folder: Path) -> None:
    sample = samples.write_audio(folder / "dec.wav", sample_rate=22_050, channels=2)
    track = decode_audio(sample.path)
    assert track.rate == 48_000 and track.samples.dtype == np.float32
    assert track.samples.shape[0] == 1
    # The resampler's tail must be flushed: no samples lost at the end.
    assert track.samples.shape[1] == pytest.approx(sample.duration_s * 48_000, abs=64)
