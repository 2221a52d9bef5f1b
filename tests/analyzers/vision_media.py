"""Real pictures of people for the vision tests and benchmarks, from scikit-image's data.

The astronaut (Eileen Collins, NASA, public domain) is the person; the brick wall is
the background. A head-and-shoulders cut of her slides across the wall to make a video.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageFilter

from agents.samples import video_encoder

# Where she is in astronaut.png, marked by hand (x, y, width, height): hair to the
# bottom edge, from her left arm to her right shoulder, without the helmet she holds.
ASTRONAUT_PERSON_BOX = (20, 15, 340, 497)
ASTRONAUT_FACE_CENTRE = (224, 113)

# The cut: rows and columns of astronaut.png, and its silhouette as two ellipses
# (head, shoulders) in the cut's own pixels: centre x, centre y, half width, half height.
_CUT_TOP, _CUT_LEFT, _CUT_HEIGHT, _CUT_WIDTH = 10, 95, 330, 270
_HEAD = (130, 100, 80, 100)
_SHOULDERS = (135, 330, 150, 185)
_MARGIN = 10  # the figure stays this far from the left and right edges


def _skimage_data(name: str) -> Path:
    path = importlib.metadata.distribution("scikit-image").locate_file(f"skimage/data/{name}")
    return Path(str(path))


def person_photo() -> Path:
    """astronaut.png: 512x512 RGB, one woman, head and torso, facing the camera."""
    return _skimage_data("astronaut.png")


@cache
def _figure() -> tuple[np.ndarray, np.ndarray]:
    """The cut (RGB float) and its soft-edged silhouette (0..1, one channel)."""
    with Image.open(person_photo()) as photo:
        rgb = np.asarray(photo.convert("RGB"), dtype=np.float32)
    cut = rgb[_CUT_TOP : _CUT_TOP + _CUT_HEIGHT, _CUT_LEFT : _CUT_LEFT + _CUT_WIDTH]
    rows, cols = np.mgrid[0:_CUT_HEIGHT, 0:_CUT_WIDTH]
    inside = np.zeros(rows.shape, dtype=bool)
    for cx, cy, half_w, half_h in (_HEAD, _SHOULDERS):
        inside |= ((cols - cx) / half_w) ** 2 + ((rows - cy) / half_h) ** 2 <= 1
    soft = Image.fromarray((inside * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3))
    return cut, (np.asarray(soft, dtype=np.float32) / 255)[..., None]


def background(width: int = 640, height: int = 360) -> np.ndarray:
    """A warm brick wall (scikit-image's brick.png, tinted), RGB uint8."""
    with Image.open(_skimage_data("brick.png")) as brick:
        grey = np.asarray(brick.convert("L").resize((width, height)), dtype=np.float32)
    tinted = np.stack([grey * 0.55 + 60, grey * 0.5 + 55, grey * 0.45 + 50], axis=-1)
    return tinted.clip(0, 255).astype(np.uint8)


def figure_box(
    time_s: float, seconds: float = 4.0, width: int = 640, height: int = 360
) -> tuple[int, int, int, int]:
    """Where the cut is at time_s (x, y, width, height): standing on the bottom edge,
    sliding left to right at constant speed over the whole clip."""
    travel = width - _CUT_WIDTH - 2 * _MARGIN
    x = _MARGIN + round(travel * min(1.0, max(0.0, time_s / seconds)))
    return (x, height - _CUT_HEIGHT, _CUT_WIDTH, _CUT_HEIGHT)


def moving_figure_video(path: Path, seconds: float = 4.0, fps: int = 25) -> Path:
    """640x360 H.264 (or MPEG-4 part 2): the astronaut sliding over the brick wall."""
    wall = background().astype(np.float32)
    cut, silhouette = _figure()

    def draw(time_s: float) -> np.ndarray:
        frame = wall.copy()
        x, y, w, h = figure_box(time_s, seconds)
        region = frame[y : y + h, x : x + w]
        frame[y : y + h, x : x + w] = region * (1 - silhouette) + cut * silhouette
        return frame.astype(np.uint8)

    return _write(path, seconds, fps, draw)


def background_video(path: Path, seconds: float = 2.0, fps: int = 25) -> Path:
    """The brick wall alone, for the "nobody there" case."""
    wall = background()
    return _write(path, seconds, fps, lambda _: wall)


def _write(
    path: Path, seconds: float, fps: int, draw: Callable[[float], np.ndarray]
) -> Path:
    with av.open(str(path), "w") as container:
        # A keyframe every second, as streaming encoders do: segments really seek.
        stream = container.add_stream(video_encoder(), rate=fps, options={"g": str(fps)})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(draw(index / fps), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
