"""Pictures and video frames over AIMA_MAX_MEGAPIXELS are refused from their headers,
before a decoder allocates them: on upload (Pillow and FFmpeg paths) and in the agent."""

from __future__ import annotations

import resource
from pathlib import Path

import av
import pytest
from PIL import Image, UnidentifiedImageError

from agents.analyzers.decode import iter_frames, load_image
from aima_tasks.kernel import probe
from aima_web.jobs.models import Job, MediaAsset

pytestmark = pytest.mark.django_db

LIMIT_TEXT = "over the 120 megapixel limit (AIMA_MAX_MEGAPIXELS)"


def bilevel_png(path: Path, side: int) -> Path:
    """A side x side PNG: 1 bit a pixel, so making it costs the test little memory."""
    with Image.new("1", (side, side)) as picture:
        picture.save(path)
    return path


def with_broken_header_checksum(path: Path) -> Path:
    """The PNG with its IHDR checksum spoilt: Pillow refuses it, FFmpeg decodes it."""
    data = bytearray(path.read_bytes())
    data[29] ^= 0xFF  # signature (8) + IHDR length and type (8) + IHDR data (13)
    path.write_bytes(bytes(data))
    return path


def tall_frame_video(path: Path, side: int) -> Path:
    """A one-frame QuickTime video of side x side grey PNG frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "gray"
        frame = av.VideoFrame(side, side, "gray")
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


def upload(api, path: Path):
    with path.open("rb") as media:
        return api.post("/api/v1/jobs/", {"media": media, "confidentiality": "internal"},
                        format="multipart")


def nothing_stored(settings) -> bool:
    root = Path(settings.AIMA_MEDIA_ROOT)
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    return files == [] and Job.objects.count() == 0 and MediaAsset.objects.count() == 0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_12000_square_png_is_refused_from_its_header(api, settings, tmp_path):
    png = bilevel_png(tmp_path / "huge.png", 12000)
    assert png.stat().st_size < 1_000_000
    before = peak_rss_mb()
    response = upload(api, png)
    assert response.status_code == 400, response.content
    assert response.json()["media"] == [
        f"the picture is 12000x12000 (144.0 megapixels), {LIMIT_TEXT}"]
    assert nothing_stored(settings)
    # Decoded as RGB it would take 432 MB.
    assert peak_rss_mb() - before < 100


def test_a_15000_square_png_only_ffmpeg_reads_is_refused_too(api, settings, tmp_path):
    png = with_broken_header_checksum(bilevel_png(tmp_path / "huge.png", 15000))
    with pytest.raises(UnidentifiedImageError):  # so the probe falls back to FFmpeg
        Image.open(png)
    before = peak_rss_mb()
    response = upload(api, png)
    assert response.status_code == 400, response.content
    [message] = response.json()["media"]
    assert "within the 120 megapixel limit (AIMA_MAX_MEGAPIXELS)" in message
    assert nothing_stored(settings)
    assert peak_rss_mb() - before < 100  # 675 MB as RGB


def test_the_ffmpeg_fallback_still_reads_a_picture_within_the_limit(tmp_path):
    png = tmp_path / "small.png"
    Image.new("RGB", (300, 200), "red").save(png)
    with_broken_header_checksum(png)
    result = probe.probe(png)
    assert (result.media_type, result.image.width, result.image.height) == ("image", 300, 200)


def test_video_frames_over_the_limit_are_refused(tmp_path):
    video = tall_frame_video(tmp_path / "tall.mov", 11000)
    with pytest.raises(probe.NotMedia, match="within the 120 megapixel limit"):
        probe.sniff(video)
    with pytest.raises(probe.NotMedia, match="within the 50 megapixel limit"):
        probe.sniff(video, max_pixels=50_000_000)


def test_the_limit_follows_the_setting(api, settings, tmp_path):
    settings.AIMA_MAX_PIXELS = 1_000_000
    png = tmp_path / "photo.png"
    Image.new("RGB", (1200, 1000), "blue").save(png)
    response = upload(api, png)
    assert response.status_code == 400
    assert response.json()["media"] == [
        "the picture is 1200x1000 (1.2 megapixels), over the 1 megapixel limit "
        "(AIMA_MAX_MEGAPIXELS)"]
    settings.AIMA_MAX_PIXELS = 2_000_000
    assert upload(api, png).status_code == 201


def test_an_8k_photo_is_accepted(tmp_path):
    assert probe.sniff(bilevel_png(tmp_path / "8k.png", 7680)) == "image"


def test_the_agent_refuses_before_decoding(tmp_path, monkeypatch):
    """Defence in depth: the agent's decoders hold the limit without the probe."""
    png = bilevel_png(tmp_path / "huge.png", 12000)
    with pytest.raises(probe.OversizedMedia, match="12000x12000"):
        load_image(png, max_side=512)
    monkeypatch.setenv("AIMA_MAX_MEGAPIXELS", "50")
    video = tall_frame_video(tmp_path / "tall.mov", 8000)
    before = peak_rss_mb()
    # FFmpeg's decoder holds the bound (the container's size is unknown once opening
    # refused to decode a first frame).
    with pytest.raises(av.FFmpegError, match="Invalid argument"):
        next(iter_frames(video))
    assert peak_rss_mb() - before < 100
