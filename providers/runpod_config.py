"""The ``runpod`` provider's settings (``AIMA_RUNPOD_<KEY>``, see
``providers.runpod``) and the choices RunPod allows in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.errors import AuthError

NAME = "runpod"
DEFAULT_URL = "https://api.runpod.io"
CLOUD_TYPES = ("SECURE", "COMMUNITY")
# The CUDA versions RunPod lets a pod ask for (allowedCudaVersions). A version
# RunPod adds later only widens the choice of hosts once it is listed here.
CUDA_VERSIONS = ("11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.7",
                 "12.8", "12.9", "13.0")


@dataclass(frozen=True)
class Config:
    api_key: str = field(repr=False)
    url: str
    cloud_types: tuple[str, ...]
    min_cuda: str
    boot_s: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        api_key = settings.get("api_key", "").strip()
        if not api_key:
            raise AuthError("AIMA_RUNPOD_API_KEY is not set: the runpod provider needs a "
                            "RunPod API key")
        cloud_type = settings.get("cloud_type", "ALL").strip().upper()
        if cloud_type not in (*CLOUD_TYPES, "ALL"):
            raise ValueError(f"AIMA_RUNPOD_CLOUD_TYPE={cloud_type!r}: use SECURE, COMMUNITY "
                             "or ALL")
        min_cuda = settings.get("min_cuda", "12.4").strip()
        if min_cuda not in CUDA_VERSIONS:
            raise ValueError(f"AIMA_RUNPOD_MIN_CUDA={min_cuda!r}: use one of "
                             f"{', '.join(CUDA_VERSIONS)}")
        try:
            boot_s = float(settings.get("boot_s", "240"))
        except ValueError:
            raise ValueError(f"AIMA_RUNPOD_BOOT_S={settings['boot_s']!r} is not a number") \
                from None
        return cls(api_key=api_key, url=settings.get("url", DEFAULT_URL).strip().rstrip("/"),
                   cloud_types=CLOUD_TYPES if cloud_type == "ALL" else (cloud_type,),
                   min_cuda=min_cuda, boot_s=boot_s)
