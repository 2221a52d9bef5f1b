"""Synthetic sample media with known content, for the demo, the tests and the benchmarks.

Pure module (PyAV, Pillow, numpy, stdlib): no Django. Every writer returns a frozen
dataclass describing what it wrote, so a test can compare an analysis with the truth.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

RGB = tuple[int, int, int]

DEFAULT_SCENES: tuple[tuple[RGB, float], ...] = (
    ((200, 40, 40), 1.0),
    ((40, 170, 70), 1.5),
    ((50, 70, 210), 1.0),
)
AUDIO_RATE = 48_000
_BOX = 14  # side of the moving box, in pixels


@dataclass(frozen=True)
class VideoSample:
    path: Path
    codec: str
    fps: int
    width: int
    height: int
    frame_count: int
    duration_s: float
    cut_frames: tuple[int, ...]  # index of the first frame of every shot but the first
    cut_times_s: tuple[float, ...]
    audio_codec: str | None
    tone_amplitude: float | None
    silence_s: tuple[float, float] | None  # the silent gap in the sound track


@dataclass(frozen=True)
class ImageSample:
    path: Path
    width: int
    height: int
    colours: tuple[tuple[RGB, float], ...]  # (colour, share of the picture)
    exif: dict[str, str]


@dataclass(frozen=True)
class AudioSample:
    path: Path
    sample_rate: int
    channels: int
    duration_s: float
    frequency_hz: float
    amplitude: float  # peak amplitude of the tones, full scale = 1.0
    silence_s: tuple[float, float] | None


@dataclass(frozen=True)
class Turn:
    voice: str  # the espeak-ng voice, e.g. "de" or "de+f3"
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpeechSample:
    path: Path  # a 16-bit mono WAV
    sample_rate: int
    duration_s: float
    turns: tuple[Turn, ...]


def video_encoder() -> str:
    """H.264 when this PyAV build can encode it, MPEG-4 part 2 otherwise."""
    return _first_encoder(("libx264", "mpeg4"))


def audio_encoder() -> str:
    """AAC (what MP4 players expect), else MP2 or Opus."""
    return _first_encoder(("aac", "mp2", "libopus"))


def _first_encoder(names: Sequence[str]) -> str:
    for name in names:
        if name not in av.codecs_available:
            continue
        try:
            av.codec.Codec(name, "w")
        except (ValueError, av.FFmpegError):
            continue  # a decoder of that name only
        return name
    raise RuntimeError(f"this PyAV build has none of the encoders {', '.join(names)}")


def _scene_frames(scenes: Sequence[tuple[RGB, float]], fps: int) -> list[int]:
    counts = [max(1, round(seconds * fps)) for _, seconds in scenes]
    return counts


def _draw_frame(
    colour: RGB, width: int, height: int, step: int, steps: int, moving_box: bool
) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = colour
    if moving_box:
        # A bright or dark box crossing the scene: real motion, same palette.
        shade = 30 if sum(colour) > 450 else 235
        travel = width - _BOX - 4
        x = 2 + round(travel * step / max(1, steps - 1))
        y = height // 2 - _BOX // 2 + round(height / 6 * math.sin(step / 3))
        frame[y : y + _BOX, x : x + _BOX] = shade
    return frame


def _tone_track(
    duration_s: float, gap: tuple[float, float], amplitude: float, frequency_hz: float
) -> np.ndarray:
    n = round(duration_s * AUDIO_RATE)
    t = np.arange(n) / AUDIO_RATE
    signal = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    signal[round(gap[0] * AUDIO_RATE) : round(gap[1] * AUDIO_RATE)] = 0.0
    return signal.astype(np.float32)


def write_video(
    path: Path,
    scenes: Sequence[tuple[RGB, float]] = DEFAULT_SCENES,
    fps: int = 12,
    size: tuple[int, int] = (160, 96),
    with_audio: bool = True,
    moving_box: bool = True,
    tone_amplitude: float = 0.1,
    tone_hz: float = 1000.0,
    silence_s: tuple[float, float] | None = None,
    sound: Path | None = None,
) -> VideoSample:
    """An MP4 of flat-colour scenes joined by hard cuts, with a box moving in each.

    The sound track is a tone with one silent gap (by default the middle 0.7 s of the
    second scene, so it does not line up with a cut); with ``sound``, that 16-bit mono
    WAV instead (e.g. a ``write_dialogue``), cut or padded to the scenes' length.
    """
    path = Path(path)
    width, height = size
    counts = _scene_frames(scenes, fps)
    total = sum(counts)
    duration = total / fps
    cut_frames = tuple(int(x) for x in np.cumsum(counts)[:-1])
    if silence_s is None:
        silence_s = _default_silence(counts, cut_frames, fps, duration)

    vcodec = video_encoder()
    acodec = audio_encoder() if with_audio else None
    with av.open(str(path), "w", format="mp4") as container:
        vstream = _add_video_stream(container, vcodec, fps, width, height)
        astream = None
        if acodec is not None:
            astream = container.add_stream(acodec, rate=AUDIO_RATE)
            astream.layout = "mono"
            astream.bit_rate = 96_000
        _write_frames(container, vstream, scenes, counts, fps, moving_box)
        if astream is not None:
            track, rate = ((_tone_track(duration, silence_s, tone_amplitude, tone_hz), AUDIO_RATE)
                           if sound is None else _wav_track(sound, duration))
            _encode_audio(container, astream, track, rate)

    toned = acodec is not None and sound is None
    return VideoSample(
        path=path, codec=vcodec, fps=fps, width=width, height=height, frame_count=total,
        duration_s=duration, cut_frames=cut_frames,
        cut_times_s=tuple(frame / fps for frame in cut_frames), audio_codec=acodec,
        tone_amplitude=tone_amplitude if toned else None, silence_s=silence_s if toned else None)


def _wav_track(sound: Path, duration_s: float) -> tuple[np.ndarray, int]:
    """A WAV's samples as floats, cut or padded with silence to ``duration_s``."""
    pcm, rate = read_wav(sound)
    track = np.zeros(round(duration_s * rate), dtype=np.float32)
    kept = min(len(track), len(pcm))
    track[:kept] = pcm[:kept] / 32768.0
    return track, rate


def _default_silence(counts: Sequence[int], cut_frames: tuple[int, ...], fps: int,
                     duration: float) -> tuple[float, float]:
    """The middle 0.7 s of the second scene, off every cut; with one scene, the
    middle fifth of the clip."""
    if len(counts) > 1:
        mid = (cut_frames[0] + counts[1] / 2) / fps
        return (round(mid - 0.35, 3), round(mid + 0.35, 3))
    return (round(duration * 0.4, 3), round(duration * 0.6, 3))


def _add_video_stream(container: av.container.OutputContainer, codec: str, fps: int,
                      width: int, height: int) -> av.video.VideoStream:
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"crf": "20", "preset": "veryfast", "tune": "zerolatency"}
    else:
        stream.bit_rate = 800_000
    return stream


def _write_frames(container: av.container.OutputContainer, stream: av.video.VideoStream,
                  scenes: Sequence[tuple[RGB, float]], counts: Sequence[int], fps: int,
                  moving_box: bool) -> None:
    index = 0
    for (colour, _), count in zip(scenes, counts, strict=True):
        for step in range(count):
            pixels = _draw_frame(colour, stream.width, stream.height, step, count, moving_box)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
            index += 1
    container.mux(stream.encode(None))


def _encode_audio(
    container: av.container.OutputContainer, stream: av.audio.AudioStream, samples: np.ndarray,
    rate: int = AUDIO_RATE,
) -> None:
    ctx = stream.codec_context
    sample_format = ctx.format.name if ctx.format is not None else "fltp"
    # Encoders with a fixed frame size (AAC: 1024) refuse other sizes.
    chunk = ctx.frame_size or 1024
    resampler = av.AudioResampler(
        format=sample_format, layout="mono", rate=AUDIO_RATE, frame_size=chunk
    )
    for start in range(0, len(samples), chunk):
        block = samples[start : start + chunk].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate = rate  # the resampler brings it to the stream's rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for out in resampler.resample(frame):
            container.mux(stream.encode(out))
    for out in resampler.resample(None):
        container.mux(stream.encode(out))
    container.mux(stream.encode(None))


def write_image(
    path: Path,
    regions: Sequence[tuple[RGB, float]] = (
        ((220, 40, 40), 0.5),
        ((40, 160, 80), 0.3),
        ((240, 220, 60), 0.2),
    ),
    size: tuple[int, int] = (200, 120),
    exif: dict[str, str] | None = None,
) -> ImageSample:
    """A JPEG of vertical colour bands with the given shares, and a small EXIF block."""
    path = Path(path)
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    edges = np.round(np.cumsum([0.0] + [share for _, share in regions]) * width).astype(int)
    edges[-1] = width
    colours = []
    for (colour, _), left, right in zip(regions, edges[:-1], edges[1:], strict=True):
        pixels[:, left:right] = colour
        colours.append((colour, float(right - left) / width))

    tags = exif if exif is not None else {
        "Make": "AIMA Test Rig", "Model": "Synthetic Camera 1", "DateTime": "2024:05:17 10:30:00"}
    image = Image.fromarray(pixels, "RGB")
    image.save(path, format="JPEG", quality=95, subsampling=0, exif=_exif_block(tags))
    return ImageSample(path, width, height, tuple(colours), dict(tags))


def write_textured_image(
    path: Path, seed: int = 0, size: tuple[int, int] = (256, 192), grain: int = 12
) -> Path:
    """A detailed but smooth picture (upscaled noise): the input for hash tests."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(size[1] // grain + 2, size[0] // grain + 2, 3))
    small = Image.fromarray(coarse.astype(np.uint8), "RGB")
    image = small.resize(size, Image.Resampling.BICUBIC)
    image.save(path, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    return path


def _exif_block(tags: dict[str, str]) -> Image.Exif:
    from PIL.ExifTags import Base

    exif = Image.Exif()
    for name, value in tags.items():
        exif[Base[name].value] = value
    return exif


def write_audio(path: Path, tone_s: float = 1.0, silence_s: float = 0.6, tail_s: float = 1.0,
                amplitude: float = 0.1, frequency_hz: float = 1000.0,
                sample_rate: int = AUDIO_RATE, channels: int = 1) -> AudioSample:
    """A 16-bit WAV: tone, silence, tone. ``silence_s=0`` gives one continuous tone."""
    path = Path(path)
    n_total = round((tone_s + silence_s + tail_s) * sample_rate)
    t = np.arange(n_total) / sample_rate
    signal = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    gap = None
    if silence_s > 0:
        start, end = round(tone_s * sample_rate), round((tone_s + silence_s) * sample_rate)
        signal[start:end] = 0.0
        gap = (start / sample_rate, end / sample_rate)
    pcm = np.round(signal * 32767).astype("<i2")
    interleaved = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(interleaved.tobytes())
    return AudioSample(path=path, sample_rate=sample_rate, channels=channels,
                       duration_s=n_total / sample_rate, frequency_hz=frequency_hz,
                       amplitude=amplitude, silence_s=gap)


# Speech ---------------------------------------------------------------------

# espeak-ng's faint tail (below about -56 dBFS) is cut: the pauses are digital silence.
TAIL_LEVEL = 50


def trimmed(pcm: np.ndarray) -> np.ndarray:
    """16-bit speech without espeak-ng's faint lead-in and tail (below TAIL_LEVEL)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > TAIL_LEVEL)
    return pcm[loud[0]: loud[-1] + 1] if len(loud) else pcm[:0]


def espeak_ng() -> str | None:
    """The espeak-ng program, or None where it is not installed."""
    return shutil.which("espeak-ng")


def write_dialogue(path: Path, turns: Sequence[tuple[str, str]], pause_s: float = 0.7,
                   speed: int = 160) -> SpeechSample:
    """A 16-bit mono WAV of (voice, text) turns spoken by espeak-ng one after the other,
    each between pauses of ``pause_s`` of silence; the sample knows each turn's span.
    Raises RuntimeError where espeak-ng is not installed."""
    program = espeak_ng()
    if program is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = Path(path)
    pieces: list[np.ndarray] = []
    spans: list[Turn] = []
    rate, at = 22_050, 0
    for voice, text in turns:
        done = subprocess.run([program, "--stdout", "-v", voice, "-s", str(speed), text],
                              check=True, capture_output=True)
        pcm, rate = _wav_bytes(done.stdout)
        voiced = trimmed(pcm)
        pause = np.zeros(round(pause_s * rate), dtype=np.int16)
        spans.append(Turn(voice, text, (at + len(pause)) / rate,
                          (at + len(pause) + len(voiced)) / rate))
        pieces += [pause, voiced]
        at += len(pause) + len(voiced)
    pieces.append(np.zeros(round(pause_s * rate), dtype=np.int16))
    pcm = np.concatenate(pieces)
    write_wav(path, pcm, rate)
    return SpeechSample(path, rate, len(pcm) / rate, tuple(spans))


def _wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    # espeak-ng writes its WAV to a pipe with a length it cannot know (0 or -1):
    # the samples are whatever follows the header's "data" tag.
    rate = int.from_bytes(data[24:28], "little")
    start = data.index(b"data") + 8
    return np.frombuffer(data[start: start + (len(data) - start) // 2 * 2], dtype="<i2"), rate


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """The int16 samples of a 16-bit mono WAV, and its rate."""
    with wave.open(str(path), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit mono")
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        return pcm, source.getframerate()


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return Path(path)
