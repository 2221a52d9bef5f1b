"""Pictures and videos with known text on them, for the text (OCR) tests and for
end-to-end tests that need text on screen.

Text is drawn with the DejaVu fonts (Debian fonts-dejavu-core, free license), over
plain colours or over real photographs from tests/analyzers/photos.py.

    caption_on(picture, "Grüße aus München", (40, 300), size=32)  -> the box drawn
    text_picture(lines, width, height, background)                  -> a new picture
    caption_video(path, captions, seconds, fps, frame=...)          -> an H.264 file
    captions_over(source_video, path, captions)                      -> the same, over
        another video (e.g. vision_media.moving_figure_video: a person on screen)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.samples import video_encoder

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SANS = DEJAVU / "DejaVuSans.ttf"
SANS_BOLD = DEJAVU / "DejaVuSans-Bold.ttf"
SERIF = DEJAVU / "DejaVuSerif.ttf"
RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class Caption:
    """A line of text on screen from start_s until end_s, at (x, y) (its top left)."""

    text: str
    start_s: float
    end_s: float
    at: tuple[int, int] = (40, 290)
    size: int = 30
    colour: RGB = (255, 255, 255)
    band: RGB | None = (20, 20, 20)  # a dark band behind the text, as subtitles have


def caption_on(picture: Image.Image, text: str, at: tuple[int, int], *, size: int = 32,
               colour: RGB = (0, 0, 0), band: RGB | None = None,
               outline: RGB | None = None, font: Path = SANS) -> Box:
    """Draws one line of text onto the picture (in place), optionally on a band of
    colour with a margin around it, or with an outline as subtitles over pictures have;
    returns the box of the text's ink."""
    face = ImageFont.truetype(str(font), size)
    draw = ImageDraw.Draw(picture)
    stroke = max(1, size // 12) if outline is not None else 0
    left, top, right, bottom = draw.textbbox(at, text, font=face, stroke_width=stroke)
    if band is not None:
        margin = max(4, size // 4)
        draw.rectangle((left - margin, top - margin, right + margin, bottom + margin),
                       fill=band)
    draw.text(at, text, font=face, fill=colour, stroke_width=stroke, stroke_fill=outline)
    return left, top, right - left, bottom - top


def text_picture(lines: Sequence[str], *, width: int = 800, height: int = 400,
                 background: RGB = (255, 255, 255), colour: RGB = (0, 0, 0),
                 size: int = 32, font: Path = SANS) -> tuple[Image.Image, list[Box]]:
    """A plain picture with the lines one under the other; the picture and their boxes."""
    picture = Image.new("RGB", (width, height), background)
    boxes = [caption_on(picture, line, (30, 30 + index * round(size * 1.8)), size=size,
                        colour=colour, font=font)
             for index, line in enumerate(lines)]
    return picture, boxes


def solid_frame(colour: RGB = (70, 90, 120), width: int = 640,
                height: int = 360) -> Callable[[float], Image.Image]:
    return lambda _: Image.new("RGB", (width, height), colour)


def captions_over(source: Path, path: Path, captions: Sequence[Caption]) -> Path:
    """``source`` (any video, e.g. vision_media.moving_figure_video's astronaut) again,
    with the captions drawn on it at their times; same size and frame rate."""
    with av.open(str(source)) as video:
        stream = video.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        frames = [frame.to_image() for frame in video.decode(stream)]
    return caption_video(path, captions, seconds=len(frames) / fps, fps=fps,
                         frame=lambda t: frames[min(len(frames) - 1, round(t * fps))])


def caption_video(path: Path, captions: Sequence[Caption], *, seconds: float = 4.0,
                  fps: int = 25, frame: Callable[[float], Image.Image] | None = None) -> Path:
    """An H.264 (or MPEG-4 part 2) video: ``frame(t)`` (default a plain blue-grey
    640x360 picture; pass vision_media's moving astronaut for a person on screen) with
    each caption drawn while start_s <= t < end_s."""
    draw_frame = frame or solid_frame()
    first = draw_frame(0.0)
    with av.open(str(path), "w") as container:
        # A keyframe every second, as streaming encoders do: segments really seek.
        stream = container.add_stream(video_encoder(), rate=fps, options={"g": str(fps)})
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index in range(round(seconds * fps)):
            time_s = index / fps
            picture = draw_frame(time_s).convert("RGB")
            for caption in captions:
                if caption.start_s <= time_s < caption.end_s:
                    caption_on(picture, caption.text, caption.at, size=caption.size,
                               colour=caption.colour, band=caption.band)
            out = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
            out.pts = index
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return path
