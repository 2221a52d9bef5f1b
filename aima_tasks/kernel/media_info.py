"""What a probe found in a media file (``aima_tasks.kernel.probe``): plain
records that travel as dicts between the control plane and the agents."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self

from aima_tasks.kernel.analyses import MediaType


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    frame_count: int | None  # from the container when it says, else duration x fps


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    bitrate: int | None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int  # as displayed, after the EXIF orientation
    height: int
    mode: str
    frames: int
    exif: dict[str, str]


@dataclass(frozen=True)
class ProbeResult:
    media_type: MediaType
    sha256: str
    size_bytes: int
    container: str
    duration_s: float | None
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    image: ImageInfo | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["media_type"] = self.media_type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        def nested(kind: type, key: str) -> Any:
            value = data.get(key)
            return None if value is None else kind(**value)

        return cls(
            media_type=MediaType(data["media_type"]),
            sha256=data["sha256"],
            size_bytes=int(data["size_bytes"]),
            container=data["container"],
            duration_s=data.get("duration_s"),
            video=nested(VideoInfo, "video"),
            audio=nested(AudioInfo, "audio"),
            image=nested(ImageInfo, "image"),
        )
