"""A generated video of a person with German text on screen, for the report and
end-to-end tests: vision_media's astronaut sliding over the brick wall, with a caption
drawn in DejaVu Sans (Debian fonts-dejavu-core, free license) on a dark band above her
with text_media's captions.

    captioned_figure_video(path, seconds=4.0, fps=10) -> Scene (path, caption, boxes)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.analyzers import vision_media
from tests.analyzers.text_media import Caption, caption_on, captions_over

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
    on screen throughout (text_media.captions_over), a keyframe a second."""
    plain = vision_media.moving_figure_video(path.with_name(f"{path.stem}-plain.mp4"),
                                             seconds=seconds, fps=fps)
    shown = Caption(caption, 0.0, seconds + 1.0, at=CAPTION_AT, size=CAPTION_SIZE,
                    colour=INK, band=BAND)
    try:
        captions_over(plain, path, [shown])
    finally:
        plain.unlink(missing_ok=True)
    # Where the ink lands: the same drawing on an empty frame.
    box = caption_on(Image.new("RGB", (640, 360)), caption, CAPTION_AT, size=CAPTION_SIZE,
                     colour=INK, band=BAND)
    return Scene(path, seconds, fps, caption, box)
