"""Media probe: what a file is (from its bytes, never its name) and its basic metadata.

Pure module (Pillow, PyAV, stdlib): no Django, no Celery. ``sniff`` decides the
MediaType, ``probe`` adds the content hash and the stream metadata (the records
of ``aima_tasks.kernel.media_info``; ``ProbeResult`` is importable from here too).

A picture or video frame larger than ``max_pixels`` (``aima_tasks.kernel.limits``) is
refused from its header, before any decoder allocates it: Pillow opens lazily and
says its size; FFmpeg's decoders get the same bound (``max_pixels``), also while
the container is opened, and the streams' sizes are checked before a frame is decoded.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer
from PIL import ExifTags, Image

from aima_tasks.kernel import limits
from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.media_info import AudioInfo, ImageInfo, ProbeResult, VideoInfo

_CHUNK = 1 << 20
_QUARTER_TURNS = frozenset({"5", "6", "7", "8"})  # EXIF orientations that swap width, height
_EXIF_VALUE_MAX = 200
# Demuxers that read one still picture; a stream from them is an image, not a video.
_STILL_IMAGE_SUFFIXES = ("_pipe",)
_STILL_IMAGE_FORMATS = frozenset({"image2", "apng", "gif", "webp"})


class NotMedia(ValueError):
    """The file holds no image, video or audio that can be decoded."""

    def __init__(self, detail: str | None = None) -> None:
        message = (
            "the file is not decodable media (no image, video or audio stream could be decoded)"
        )
        super().__init__(f"{message}: {detail}" if detail else message)


class OversizedMedia(NotMedia):
    """A picture or video frame over the pixel limit, refused before decoding."""

    def __init__(self, size: str, max_pixels: int) -> None:
        ValueError.__init__(self, f"the picture is {size}, over the {_megapixels(max_pixels)} "
                                  "limit (AIMA_MAX_MEGAPIXELS)")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:g} megapixel"


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Raise OversizedMedia if a width x height picture is over ``max_pixels``."""
    if width * height > max_pixels:
        raise OversizedMedia(f"{width}x{height} ({width * height / 1e6:.1f} megapixels)",
                             max_pixels)


def limit_frames(stream: av.video.VideoStream, max_pixels: int) -> None:
    """Refuse a video stream whose frames the container says are over ``max_pixels``, and
    have its decoder refuse any larger frame too (a header may lie). Before decoding."""
    ctx = stream.codec_context
    check_pixels(ctx.width, ctx.height, max_pixels)
    ctx.options = {**ctx.options, "max_pixels": str(max_pixels)}


class _Nameless:
    """A read-only file view without a ``name``.

    PyAV hands a file object's name to FFmpeg, whose probe trusts extensions
    (``notes.txt`` opens as an ANSI-art video); without a name only the bytes count.
    """

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True


@contextmanager
def open_container(path: Path, max_pixels: int | None = None) -> Iterator[InputContainer]:
    """``av.open`` for reading, by content only (see ``_Nameless``).

    Opening decodes a first frame where the container does not say a stream's size
    (a PNG, for one): FFmpeg refuses to decode one over ``max_pixels`` there, leaving
    that stream's size unknown (0x0).
    """
    bound = {"max_pixels": str(max_pixels or limits.max_pixels())}
    with open(path, "rb") as raw, av.open(_Nameless(raw), "r", options=bound) as container:
        yield container


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_picture(path: Path, max_pixels: int) -> bool:
    """Pillow can identify the file and decode its (first) picture; raise OversizedMedia
    for one over ``max_pixels``, from its header, before decoding."""
    try:
        with Image.open(path) as image:
            check_pixels(*image.size, max_pixels)
            image.verify()
        # verify() checks little for most formats (an MPEG video "opens" as a picture),
        # so decode for real, at reduced size where the codec allows it.
        with Image.open(path) as image:
            image.draft("RGB", (256, 256))
            image.load()
    except OversizedMedia:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own bound (twice Image.MAX_IMAGE_PIXELS) fired before the size was ours.
        raise OversizedMedia(f"too large ({exc})", max_pixels) from None
    except Exception:  # Pillow raises anything from OSError to struct.error on garbage
        return False
    return True


def _decodes(container: InputContainer, stream: av.stream.Stream) -> bool:
    """At least one frame of the stream decodes (stops at the first)."""
    try:
        for _frame in container.decode(stream):
            return True
    except (av.FFmpegError, ValueError, EOFError, MemoryError):
        return False
    return False


def _is_still_format(container: InputContainer) -> bool:
    names = set(container.format.name.split(","))
    return bool(names & _STILL_IMAGE_FORMATS) or any(
        name.endswith(_STILL_IMAGE_SUFFIXES) for name in names
    )


def _is_cover_art(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _sniff_av(path: Path, max_pixels: int) -> MediaType:
    sizeless = False
    try:
        with open_container(path, max_pixels) as container:
            videos = [s for s in container.streams.video if not _is_cover_art(s)]
            attempts = 0
            for stream in videos:
                limit_frames(stream, max_pixels)
                sizeless = sizeless or not stream.codec_context.width
                attempts += _rewind(container, attempts)
                if _decodes(container, stream):
                    return MediaType.IMAGE if _is_still_format(container) else MediaType.VIDEO
            for stream in container.streams.audio:
                attempts += _rewind(container, attempts)
                if _decodes(container, stream):
                    return MediaType.AUDIO
    except NotMedia:
        raise
    except Exception as exc:  # whatever FFmpeg or PyAV make of garbage, it is not media
        raise NotMedia(_reason(exc)) from exc
    if sizeless:
        # FFmpeg would not decode a first frame to learn the size: over the limit, or broken.
        raise NotMedia(f"no picture within the {_megapixels(max_pixels)} limit "
                       "(AIMA_MAX_MEGAPIXELS) could be decoded")
    raise NotMedia("no stream decoded")


def _reason(exc: Exception) -> str:
    # FFmpeg errors carry the (nameless) file in str(); the strerror alone reads better.
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _rewind(container: InputContainer, attempts: int) -> int:
    """Seek back to the start before every attempt but the first; count the attempt."""
    if attempts:
        # Unseekable: decoding on from here is still a fair test.
        with suppress(av.FFmpegError, ValueError, OSError):
            container.seek(0)
    return 1


def _sniff(path: Path, max_pixels: int | None) -> tuple[MediaType, bool]:
    """The media type, and whether Pillow (rather than FFmpeg) decoded it."""
    path = Path(path)
    bound = max_pixels or limits.max_pixels()
    if not path.is_file():
        raise NotMedia(f"{path} is not a regular file")
    if path.stat().st_size == 0:
        raise NotMedia("the file is empty")
    if _is_picture(path, bound):
        return MediaType.IMAGE, True
    return _sniff_av(path, bound), False


def sniff(path: Path, max_pixels: int | None = None) -> MediaType:
    """The media type of the file, decided from its content alone; OversizedMedia for a
    picture or video frame over ``max_pixels`` (default: ``limits.max_pixels()``)."""
    return _sniff(path, max_pixels)[0]


def probe(path: Path, max_pixels: int | None = None) -> ProbeResult:
    path = Path(path)
    media_type, by_pillow = _sniff(path, max_pixels)
    digest = sha256_file(path)
    size = path.stat().st_size
    if by_pillow:
        return _probe_picture(path, digest, size)
    return _probe_av(path, media_type, digest, size, max_pixels)


def _probe_picture(path: Path, digest: str, size: int) -> ProbeResult:
    with Image.open(path) as image:
        exif = _exif_of(image)
        frames = int(getattr(image, "n_frames", 1))
        fmt = image.format or "unknown"
        mode = image.mode
        width, height = image.size
        if exif.get("Orientation") in _QUARTER_TURNS:
            width, height = height, width
        duration = _animation_duration(image) if frames > 1 else None
    info = ImageInfo(fmt, width, height, mode, frames, exif)
    return ProbeResult(MediaType.IMAGE, digest, size, fmt.lower(), duration, image=info)


def _animation_duration(image: Image.Image) -> float | None:
    total_ms = 0
    try:
        for index in range(int(image.n_frames)):
            image.seek(index)
            total_ms += int(image.info.get("duration", 0) or 0)
    except (EOFError, OSError, ValueError):
        return None
    return total_ms / 1000 if total_ms else None


def _exif_of(image: Image.Image) -> dict[str, str]:
    try:
        return _readable_exif(image.getexif())
    except Exception:  # a broken EXIF block must not hide a good picture
        return {}


def _readable_exif(exif: Image.Exif) -> dict[str, str]:
    tags: dict[str, Any] = dict(exif)
    # Camera fields (exposure, lens...) live in the Exif sub-directory.
    with suppress(KeyError, ValueError, TypeError, OSError):
        tags.update(exif.get_ifd(ExifTags.IFD.Exif))
    readable: dict[str, str] = {}
    for tag, value in tags.items():
        if isinstance(value, bytes | bytearray | dict):
            continue  # maker notes, thumbnails, nested IFDs: not readable text
        name = ExifTags.TAGS.get(tag, f"0x{tag:04x}")
        text = str(value).strip().strip("\x00")
        readable[name] = text[:_EXIF_VALUE_MAX]
    return readable


def _probe_av(path: Path, media_type: MediaType, digest: str, size: int,
              max_pixels: int | None) -> ProbeResult:
    try:
        with open_container(path, max_pixels) as container:
            videos = [s for s in container.streams.video if not _is_cover_art(s)]
            duration = _duration(container)
            video = _video_info(videos[0], duration) if videos else None
            audio = _audio_info(container.streams.audio[0]) if container.streams.audio else None
            fmt = container.format.name
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise NotMedia(_reason(exc)) from exc
    if media_type is MediaType.AUDIO:
        video = None
    if media_type is MediaType.IMAGE:
        # A still picture only FFmpeg could decode: describe it as an image.
        image = ImageInfo(
            format=(video.codec if video else fmt).upper(),
            width=video.width if video else 0,
            height=video.height if video else 0,
            mode="RGB",
            frames=1,
            exif={},
        )
        return ProbeResult(media_type, digest, size, fmt, None, image=image)
    return ProbeResult(media_type, digest, size, fmt, duration, video=video, audio=audio)


def _duration(container: InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    spans = [
        float(s.duration * s.time_base)
        for s in container.streams
        if s.duration is not None and s.time_base is not None
    ]
    return max(spans) if spans else None


def _video_info(stream: av.video.VideoStream, container_duration: float | None) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else None
    frames = stream.frames or None
    if frames is None and fps and container_duration:
        frames = round(container_duration * fps) or None
    return VideoInfo(
        codec=stream.codec_context.codec.canonical_name,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        fps=fps,
        frame_count=frames,
    )


def _audio_info(stream: av.audio.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    bitrate = stream.bit_rate or ctx.bit_rate or None
    return AudioInfo(
        codec=ctx.codec.canonical_name,  # "mp3", not the decoder's "mp3float"
        sample_rate=int(ctx.sample_rate),
        channels=int(ctx.channels),
        bitrate=int(bitrate) if bitrate else None,
    )
