"""Keyframe thumbnails for the report page: the job's media decoded at a moment
(PyAV for video, Pillow for pictures), the boxes found then drawn on it with Pillow,
and the result as a JPEG ``data:`` URI.

The thumbnails go into the page itself, which stays self-contained (a saved copy
still shows them) and needs nothing the CSP forbids (img-src allows data:). They are
made only for a page drawn for someone the report view let in (its job visibility
and audit); the media is read through the sealed store, never copied in plaintext.
Media deleted by retention has no thumbnails, nor does a file that will not decode.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

import av
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from aima_web.jobs import storage
from aima_web.privacy.sealing import Unreadable

log = logging.getLogger(__name__)

WIDTH = 360  # pixels: a thumbnail's width (the page shows two or three a row)
QUALITY = 80
# Box colours by kind, as the page's legend shows them.
COLOURS = {"person": (61, 111, 209), "face": (194, 87, 26), "text": (46, 157, 99),
           "object": (122, 76, 194)}
LABEL_CHARS = 40


def thumbnails(media: dict[str, Any], keyframes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each keyframe with its thumbnail (``src``, a data URI) and the legend of its
    boxes; none when the media cannot be read."""
    if not keyframes or not media.get("sha256"):
        return []
    try:
        with storage.open_media(media["sha256"]) as source:
            pictures = list(_pictures(source, media, [k["t"] for k in keyframes]))
    except (OSError, Unreadable, av.error.FFmpegError, UnidentifiedImageError, ValueError,
            Image.DecompressionBombError):
        log.warning("no thumbnails for media %s", media["sha256"], exc_info=True)
        return []
    shown = []
    for keyframe, picture in zip(keyframes, pictures, strict=False):
        if picture is not None:
            shown.append({**keyframe, "src": _data_uri(_drawn(picture, keyframe["boxes"]))})
    return shown


def _pictures(source: BinaryIO, media: dict[str, Any],
              moments: list[float | None]) -> Iterator[Image.Image | None]:
    if media.get("media_type") == "image":
        with Image.open(source) as picture:
            still = picture.convert("RGB")
        yield from (still for _ in moments)
        return
    with av.open(source) as container:
        stream = container.streams.video[0]
        for moment in moments:
            yield _frame_at(container, stream, moment or 0.0)


def _frame_at(container: Any, stream: Any, moment: float) -> Image.Image | None:
    """The first frame at or after ``moment`` (seconds): a seek to the keyframe
    before it, then decoding forward."""
    base = stream.time_base
    container.seek(int(moment / base) if base else 0, stream=stream, backward=True,
                   any_frame=False)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is not None and frame.time + 1e-3 >= moment:
            break
    return last.to_image() if last is not None else None


def _drawn(picture: Image.Image, boxes: list[dict[str, Any]]) -> Image.Image:
    """The picture scaled to WIDTH with each box outlined and labelled in its colour."""
    scale = WIDTH / picture.width
    small = picture.resize((WIDTH, max(1, round(picture.height * scale))))
    draw = ImageDraw.Draw(small)
    font = _font()
    for item in boxes:
        x, y, w, h = (float(v) * scale for v in item["box"])
        colour = COLOURS.get(item["kind"], COLOURS["object"])
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=2)
        # Text boxes go unlabelled: a label would hide the very text they mark.
        label = "" if item["kind"] == "text" else str(item.get("label") or "")[:LABEL_CHARS]
        if label:
            # Above the box where there is room, else inside its top edge.
            height = draw.textbbox((0, 0), label, font=font)[3] + 2
            at = (x + 2, y - height if y >= height else y + 2)
            left, top, right, bottom = draw.textbbox(at, label, font=font)
            draw.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=colour)
            draw.text(at, label, font=font, fill=(255, 255, 255))
    return small


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the system has it (it has the umlauts of enrolled names),
    else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", 11)
    except OSError:
        return ImageFont.load_default(size=11)


def _data_uri(picture: Image.Image) -> str:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
