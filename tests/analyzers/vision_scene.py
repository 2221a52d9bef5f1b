"""A generated video of a person with German text on screen, for the report and
end-to-end tests: vision_media's astronaut sliding over the brick wall, with a caption
drawn in DejaVu Sans (Debian fonts-dejavu-core, free license) on a dark band above her.

    captioned_figure_video(path, seconds=4.0, fps=10) -> Scene (path, caption, boxes)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

from agents.samples import video_encoder
from tests.analyzers import vision_media

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CAPTION = "Grüße aus München"
# Top left of the caption's ink, its size in pixels: above the figure, who stands on
# the bottom edge 30 px below the top of the 360-pixel frame.
CAPTION_AT = (40, 16)
CAPTION_SIZE = 28
BAND = (20, 20, 20)
INK = (255, 255, 255)
Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class Scene:
    path: Path
    seconds: float
    fps: int
    caption: str
    caption_box: Box  # where the caption's ink is, in every frame

    def figure_box(self, time_s: float) -> Box:
        """Where the astronaut is at time_s."""
        return vision_media.figure_box(time_s, self.seconds)


def captioned_figure_video(path: Path, seconds: float = 4.0, fps: int = 10,
                           caption: str = CAPTION) -> Scene:
    """The astronaut clip (vision_media.moving_figure_video, 640x360) with ``caption``
    on screen throughout, encoded again as H.264 (or MPEG-4 part 2), a keyframe a
    second."""
    plain = vision_media.moving_figure_video(path.with_name(f"{path.stem}-plain.mp4"),
                                             seconds=seconds, fps=fps)
    font = ImageFont.truetype(str(FONT), CAPTION_SIZE)
    box: Box = (0, 0, 0, 0)
    try:
        with av.open(str(plain)) as source, av.open(str(path), "w") as out:
            stream = out.add_stream(video_encoder(), rate=fps, options={"g": str(fps)})
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            stream.time_base = Fraction(1, fps)
            for index, frame in enumerate(source.decode(video=0)):
                picture = frame.to_image()
                box = _draw_caption(picture, caption, font)
                drawn = av.VideoFrame.from_image(picture)
                drawn.pts = index
                out.mux(stream.encode(drawn))
            out.mux(stream.encode(None))
    finally:
        plain.unlink(missing_ok=True)
    return Scene(path, seconds, fps, caption, box)


def _draw_caption(picture: Image.Image, text: str, font: ImageFont.FreeTypeFont) -> Box:
    draw = ImageDraw.Draw(picture)
    left, top, right, bottom = draw.textbbox(CAPTION_AT, text, font=font)
    margin = CAPTION_SIZE // 3
    draw.rectangle((left - margin, top - margin, right + margin, bottom + margin), fill=BAND)
    draw.text(CAPTION_AT, text, font=font, fill=INK)
    return left, top, right - left, bottom - top
