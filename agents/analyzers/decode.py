"""Decoding shared by the analysers: small video frames, resampled audio, upright pictures.

Containers are opened by content (``aima_tasks.kernel.probe.open_container``), never by the
file name, so every analyser sees the file the way the probe classified it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.container import InputContainer
from PIL import Image, ImageOps

from aima_tasks.kernel import limits
from aima_tasks.kernel.probe import OversizedMedia, check_pixels, limit_frames, open_container

ANALYSIS_RATE = 48_000
PixelFormat = Literal["gray", "rgb24"]
_TIME_EPS = 1e-6  # frame times are rationals turned to floats: compare loosely


class NoAudioTrack(ValueError):
    """The file has no audio stream to analyse."""


class NoVideoTrack(ValueError):
    """The file has no video stream (cover art does not count)."""


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    pixels: np.ndarray  # (height, width) for gray, (height, width, 3) for rgb24; uint8


@dataclass(frozen=True)
class VideoMeta:
    fps: float
    duration_s: float | None
    width: int
    height: int


@dataclass(frozen=True)
class AudioChunk:
    samples: np.ndarray  # (channels, n) float32, full scale = 1.0
    rate: int
    channels: tuple[str, ...]  # FFmpeg channel names, e.g. ("FL", "FR")


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image  # RGB, upright, possibly reduced (see load_image)
    width: int  # full size of the upright picture
    height: int


def _video_stream(container: av.container.InputContainer) -> av.video.VideoStream:
    """The first video stream (not cover art), its frames held to the pixel limit."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            limit_frames(stream, limits.max_pixels())
            return stream
    raise NoVideoTrack("the file has no video stream")


def video_meta(path: Path) -> VideoMeta:
    with open_container(path) as container:
        stream = _video_stream(container)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = None
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        ctx = stream.codec_context
        return VideoMeta(float(rate) if rate else 0.0, duration, ctx.width, ctx.height)


def iter_frames(
    path: Path,
    width: int | None = 64,
    height: int | None = 36,
    pixel_format: PixelFormat = "gray",
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    step_s: float | None = None,
) -> Iterator[Frame]:
    """Frames of the first video stream in [start_s, end_s), scaled (area average) to
    width x height; a None dimension keeps the native one.

    With ``step_s`` only the first frame at or after each multiple of step_s is kept, on
    a grid of absolute times, so consecutive segments sample the way one pass would.
    """
    with open_container(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fallback_step = 1 / float(rate) if rate else 0.0
        seeked = start_s > 0 and stream.time_base is not None
        if seeked:
            # Lands on the keyframe before start_s; the frames up to start_s are skipped.
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        next_mark = start_s
        if step_s:
            next_mark = math.ceil(start_s / step_s - _TIME_EPS) * step_s
        for index, frame in enumerate(container.decode(stream)):
            time_s = float(frame.time) if frame.time is not None else index * fallback_step
            if end_s is not None and time_s >= end_s:
                break
            if time_s < next_mark - _TIME_EPS:
                continue  # before the range or the next sampling mark: not even converted
            if step_s:
                next_mark = (math.floor(time_s / step_s + _TIME_EPS) + 1) * step_s
            # AREA, not the default bilinear: a 30x reduction must average, not sample.
            small = frame.reformat(
                width=width, height=height, format=pixel_format, interpolation="AREA"
            )
            # After a seek the decoder's count no longer says where we are: use the time.
            position = round(time_s / fallback_step) if seeked and fallback_step else index
            yield Frame(position, time_s, small.to_ndarray())


def iter_audio(
    path: Path,
    rate: int = ANALYSIS_RATE,
    mono: bool = True,
    chunk_s: float = 60.0,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> Iterator[AudioChunk]:
    """The first audio stream, resampled to float32 at ``rate``, in chunks of ``chunk_s``.

    Every chunk but the last holds exactly ``round(chunk_s * rate)`` samples, so callers
    can work in fixed blocks without carrying remainders; memory stays bounded.
    Only the media seconds [start_s, end_s) come out: the first sample is the one at
    start_s (or the track's first, if it starts later), so adding start_s to a sample's
    offset gives its media time.
    """
    chunk = max(1, round(chunk_s * rate))
    with open_container(path) as container:
        if not container.streams.audio:
            raise NoAudioTrack("the file has no audio stream")
        stream = container.streams.audio[0]
        layout = "mono" if mono else stream.codec_context.layout
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        if start_s > 0 and stream.time_base is not None:
            # A second early: some demuxers (MP3 without an index) land only roughly; the
            # samples before start_s are dropped by their timestamps below anyway.
            target = max(0, int((start_s - 1.0) / stream.time_base))
            container.seek(target, stream=stream, backward=True)
        names: tuple[str, ...] | None = None
        pending: list[np.ndarray] = []
        held = 0
        trim = _Trim()
        for out in _resampled(container, stream, resampler, rate, start_s, end_s, trim):
            if names is None:
                names = tuple(channel.name for channel in out.layout.channels)
            block = trim.apply(out.to_ndarray())
            pending.append(block)
            held += block.shape[1]
            while held >= chunk:
                joined = np.concatenate(pending, axis=1)
                yield AudioChunk(np.ascontiguousarray(joined[:, :chunk]), rate, names)
                pending, held = [joined[:, chunk:]], joined.shape[1] - chunk
            if trim.left == 0:
                break  # end_s reached: the rest is not decoded
        if held or names is None:
            channels = names or (("FC",) if mono else ())
            width = len(channels) or 1
            rest = np.concatenate(pending, axis=1) if pending else np.zeros((width, 0))
            yield AudioChunk(rest.astype(np.float32, copy=False), rate, channels)


@dataclass
class _Trim:
    """Resampled samples still to drop (before start_s) and to emit (before
    end_s; None: to the end), fixed by the first frame that reaches into the range."""

    skip: int = 0
    left: int | None = None

    def apply(self, block: np.ndarray) -> np.ndarray:
        skip = self.skip
        if skip:
            self.skip = skip - min(skip, block.shape[1])
            block = block[:, skip:]
        if self.left is not None:
            block = block[:, :self.left]
            self.left -= block.shape[1]
        return block


def _resampled(container: InputContainer, stream: av.audio.AudioStream,
               resampler: av.AudioResampler, rate: int, start_s: float,
               end_s: float | None, trim: _Trim) -> Iterator[av.AudioFrame]:
    """The resampled frames that reach into [start_s, end_s); sets ``trim`` at
    the first of them."""
    clock = 0.0  # where the next frame starts, for frames without a timestamp
    first = True
    for frame in container.decode(stream):
        begin = float(frame.time) if frame.time is not None else clock
        clock = begin + frame.samples / frame.sample_rate
        if start_s > 0 and clock <= start_s:
            continue  # wholly before the range: not even resampled
        if end_s is not None and begin >= end_s:
            break
        if first:
            first = False
            trim.skip = max(0, round((start_s - begin) * rate))
            if end_s is not None:
                trim.left = max(0, round((end_s - max(begin, start_s)) * rate))
        yield from resampler.resample(frame)
    # The resampler keeps a tail for its filter; None flushes it.
    yield from resampler.resample(None)


def decode_audio(
    path: Path,
    rate: int = ANALYSIS_RATE,
    mono: bool = True,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> AudioChunk:
    """The whole audio track (or [start_s, end_s) of it) at once, for tests and short
    files; prefer iter_audio for long ones. A range holding no sound gives no samples
    (one channel, none named)."""
    chunks = list(iter_audio(path, rate=rate, mono=mono, start_s=start_s, end_s=end_s))
    if not chunks:
        return AudioChunk(np.zeros((1, 0), np.float32), rate, ())
    samples = np.concatenate([c.samples for c in chunks], axis=1)
    return AudioChunk(samples, rate, chunks[0].channels)


def load_image(path: Path, max_side: int | None = None) -> LoadedImage:
    """The picture, upright (EXIF orientation applied), RGB, alpha flattened on white.

    With ``max_side`` the picture may come back reduced (never below max_side where it
    was larger): JPEGs decode straight at a lower scale, which is much faster.
    """
    try:
        with Image.open(path) as opened:
            # The probe refused bigger pictures; this agent does not trust that it ran.
            check_pixels(*opened.size, limits.max_pixels())
            full = _upright_size(opened)
            if max_side is not None:
                opened.draft("RGB", (max_side, max_side))
            image = ImageOps.exif_transpose(opened)
            image.load()
    except OversizedMedia:
        raise
    except (OSError, ValueError, SyntaxError):
        # A still picture Pillow cannot read but FFmpeg can (the probe allows those).
        image = _first_frame_image(path)
        full = image.size
    if max_side is not None and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.BOX)
    return LoadedImage(_flatten_rgb(image), full[0], full[1])


def load_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """The upright picture as an (height, width, 3) uint8 array."""
    return np.asarray(load_image(path, max_side).image)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if image.getexif().get(0x0112) in {5, 6, 7, 8}:  # orientations that turn a quarter
        return height, width
    return width, height


def _flatten_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _first_frame_image(path: Path) -> Image.Image:
    with open_container(path) as container:
        stream = _video_stream(container)
        for frame in container.decode(stream):
            return frame.to_image()
    raise NoVideoTrack("no picture could be decoded")
