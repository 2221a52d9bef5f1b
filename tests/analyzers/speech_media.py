"""Real synthesized speech for the speech analysers' tests and benchmarks.

espeak-ng speaks the text (its "f5" en-us variant at about 165 words a minute unless a
test names another voice). Other tests and the benchmark build
their media with these functions too.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from agents.samples import audio_encoder, read_wav, video_encoder, write_dialogue

VOICE = "en-us+f5"
SPEED = 165  # words per minute


def spoken(path: Path, text: str, voice: str = VOICE, speed: int = SPEED) -> Path:
    """``text`` spoken by espeak-ng into a 16-bit mono WAV (22.05 kHz)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = Path(path)
    subprocess.run(
        [espeak, "-w", str(path), "-v", voice, "-s", str(speed), text],
        check=True,
        capture_output=True,
    )
    return path


def speech_with_pauses(
    path: Path,
    sentences: list[str],
    pause_s: float,
    voice: str = VOICE,
    speed: int = SPEED,
) -> Path:
    """A WAV of pause, sentence, pause, sentence, ..., pause.

    The pauses are digital silence and the sentences are trimmed to their sound, so
    ``sentence_spans`` reads the exact layout back from the file.
    """
    return write_dialogue(path, [(voice, sentence) for sentence in sentences], pause_s,
                          speed).path


def dialogue(
    path: Path, lines: list[tuple[str, str]], pause_s: float, speed: int = SPEED
) -> Path:
    """Like ``speech_with_pauses``, each line (text, voice) spoken by its own voice."""
    return write_dialogue(path, [(voice, text) for text, voice in lines], pause_s, speed).path


def sentence_spans(path: Path, min_pause_s: float = 0.2) -> list[tuple[float, float]]:
    """(start_s, end_s) of every stretch of sound separated by digital silence of at least
    ``min_pause_s``: the sentences of a ``speech_with_pauses`` file, exactly."""
    pcm, rate = read_wav(path)
    silent = np.concatenate([[True], pcm == 0, [True]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))  # sound runs
    spans: list[list[int]] = []
    for start, end in runs:
        if spans and start - spans[-1][1] < min_pause_s * rate:
            spans[-1][1] = end  # a zero sample or two inside a word: same stretch
        else:
            spans.append([start, end])
    return [(start / rate, end / rate) for start, end in spans]


def speech_video(
    path: Path,
    text: str,
    voice: str = VOICE,
    speed: int = SPEED,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
) -> Path:
    """An MP4 whose sound track is ``text`` spoken (AAC where PyAV has it), over a grey
    picture that brightens frame by frame."""
    path = Path(path)
    speech = spoken(path.with_name(f"{path.stem}.speech.wav"), text, voice, speed)
    pcm, rate = read_wav(speech)
    speech.unlink()
    width, height = size
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream(video_encoder(), rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream(audio_encoder(), rate=rate)
        audio.layout = "mono"
        frames = max(1, round(len(pcm) / rate * fps))
        for index in range(frames):
            shade = 40 + round(160 * index / frames)
            picture = np.full((height, width, 3), shade, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _mux_audio(container, audio, pcm, rate)
    return path


def _mux_audio(
    container: av.container.OutputContainer,
    stream: av.audio.AudioStream,
    pcm: np.ndarray,
    rate: int,
) -> None:
    codec = stream.codec_context
    # Encoders with a fixed frame size (AAC: 1024) take nothing else: let FFmpeg re-block.
    size = codec.frame_size or 1024
    sample_format = codec.format.name if codec.format else "fltp"
    resampler = av.AudioResampler(sample_format, "mono", rate, frame_size=size)
    for start in range(0, len(pcm), size):
        block = pcm[None, start : start + size]
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for out in resampler.resample(frame):
            container.mux(stream.encode(out))
    for out in resampler.resample(None):
        container.mux(stream.encode(out))
    container.mux(stream.encode(None))
