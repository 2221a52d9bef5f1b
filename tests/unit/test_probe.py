"""The media probe: type from content only, metadata, hash. No Django, no database."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agents import samples
from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.probe import NotMedia, ProbeResult, probe, sha256_file, sniff


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("probe-media")
    return {
        "video": samples.write_video(folder / "clip.mp4"),
        "image": samples.write_image(folder / "photo.jpg"),
        "audio": samples.write_audio(folder / "voice.wav"),
    }


def test_video_probe(media: dict) -> None:
    sample = media["video"]
    result = probe(sample.path)
    assert result.media_type is MediaType.VIDEO
    assert result.video is not None and result.image is None
    assert (result.video.width, result.video.height) == (sample.width, sample.height)
    assert result.video.fps == pytest.approx(sample.fps)
    assert result.video.frame_count == sample.frame_count
    assert result.video.codec in {"h264", "mpeg4"}
    assert result.duration_s == pytest.approx(sample.duration_s, abs=0.1)
    assert result.has_audio
    assert result.audio.sample_rate == samples.AUDIO_RATE
    assert result.audio.channels == 1
    assert "mp4" in result.container


def test_video_without_sound_has_no_audio(tmp_path: Path) -> None:
    sample = samples.write_video(tmp_path / "mute.mp4", with_audio=False)
    result = probe(sample.path)
    assert result.media_type is MediaType.VIDEO
    assert not result.has_audio and result.audio is None


def test_image_probe(media: dict) -> None:
    sample = media["image"]
    result = probe(sample.path)
    assert result.media_type is MediaType.IMAGE
    assert result.image is not None and result.video is None and result.audio is None
    assert (result.image.width, result.image.height) == (sample.width, sample.height)
    assert result.image.format == "JPEG"
    assert result.image.exif["Make"] == sample.exif["Make"]
    assert result.image.exif["Model"] == sample.exif["Model"]
    assert result.duration_s is None


def test_image_size_is_upright(tmp_path: Path) -> None:
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: displayed a quarter turn clockwise
    Image.new("RGB", (80, 40), (10, 200, 30)).save(path, exif=exif)
    result = probe(path)
    assert (result.image.width, result.image.height) == (40, 80)


def test_animated_gif_is_an_image(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (24, 24), (60 * i, 20, 90)) for i in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = probe(path)
    assert result.media_type is MediaType.IMAGE
    assert result.image.frames == 4
    assert result.duration_s == pytest.approx(0.4)


def test_audio_probe(media: dict) -> None:
    sample = media["audio"]
    result = probe(sample.path)
    assert result.media_type is MediaType.AUDIO
    assert result.audio is not None and result.video is None
    assert result.audio.sample_rate == sample.sample_rate
    assert result.audio.channels == sample.channels
    assert result.audio.codec == "pcm_s16le"
    assert result.duration_s == pytest.approx(sample.duration_s, abs=0.01)


def test_stereo_audio_probe(tmp_path: Path) -> None:
    sample = samples.write_audio(tmp_path / "s.wav", sample_rate=44_100, channels=2)
    result = probe(sample.path)
    assert (result.audio.sample_rate, result.audio.channels) == (44_100, 2)


def test_type_comes_from_content_not_name(media: dict, tmp_path: Path) -> None:
    jpeg_as_mp3 = tmp_path / "song.mp3"
    shutil.copy(media["image"].path, jpeg_as_mp3)
    mp4_as_jpg = tmp_path / "holiday.jpg"
    shutil.copy(media["video"].path, mp4_as_jpg)
    wav_as_txt = tmp_path / "notes.txt"
    shutil.copy(media["audio"].path, wav_as_txt)
    assert sniff(jpeg_as_mp3) is MediaType.IMAGE
    assert sniff(mp4_as_jpg) is MediaType.VIDEO
    assert sniff(wav_as_txt) is MediaType.AUDIO
    assert probe(mp4_as_jpg).video.width == media["video"].width


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("noise.mp4", np.random.default_rng(7).bytes(8192)),
        ("empty.mp3", b""),
        # FFmpeg would open a *.txt file by name as ANSI art "video": content must win.
        ("notes.txt", b"Meeting notes\nNothing to see here, just text.\n" * 40),
        ("page.jpg", b"<!doctype html><html><body>not a picture</body></html>\n"),
    ],
)
def test_not_media(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(NotMedia, match="not decodable media"):
        sniff(path)
    with pytest.raises(NotMedia):
        probe(path)


def test_truncated_media_is_not_media(media: dict, tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(media["image"].path.read_bytes()[:40])
    with pytest.raises(NotMedia):
        sniff(path)


def test_sha256_matches_hashlib(media: dict) -> None:
    for sample in media.values():
        expected = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        assert sha256_file(sample.path) == expected
        result = probe(sample.path)
        assert result.sha256 == expected
        assert result.size_bytes == sample.path.stat().st_size


def test_to_dict_round_trips_through_json(media: dict) -> None:
    for sample in media.values():
        result = probe(sample.path)
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert set(data) == {
            "media_type", "sha256", "size_bytes", "container", "duration_s",
            "video", "audio", "image",
        }  # fmt: skip
        assert ProbeResult.from_dict(data) == result
