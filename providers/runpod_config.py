"""The ``runpod`` provider's settings (``AIMA_RUNPOD_<KEY>``, see
``providers.runpod``) and the choices RunPod allows in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.settings_schema import IMAGE, Setting, parse

NAME = "runpod"
DEFAULT_URL = "https://api.runpod.io"
CLOUD_TYPES = ("SECURE", "COMMUNITY")
# The CUDA versions RunPod lets a pod ask for (allowedCudaVersions). A version
# RunPod adds later only widens the choice of hosts once it is listed here.
CUDA_VERSIONS = ("11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.7",
                 "12.8", "12.9", "13.0")

SETTINGS: tuple[Setting, ...] = (
    Setting("api_key", str, required=True, secret=True,
            help="a RunPod API key with read and write access"),
    Setting("url", str, DEFAULT_URL, help="the API's base; /graphql is added"),
    Setting("cloud_type", str, "ALL", help="SECURE, COMMUNITY or ALL (offers from both)",
            choices=(*CLOUD_TYPES, "ALL")),
    Setting("min_cuda", str, "12.4", choices=CUDA_VERSIONS,
            help="the least CUDA its offers promise; launches are pinned to it"),
    Setting("boot_s", float, 240.0, help="expected seconds from launch to a running agent"),
    IMAGE,
)


@dataclass(frozen=True)
class Config:
    api_key: str = field(repr=False)
    url: str
    cloud_types: tuple[str, ...]
    min_cuda: str
    boot_s: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        values = parse(NAME, SETTINGS, settings)
        cloud_type = values["cloud_type"]
        return cls(api_key=values["api_key"].strip(), url=values["url"].strip().rstrip("/"),
                   cloud_types=CLOUD_TYPES if cloud_type == "ALL" else (cloud_type,),
                   min_cuda=values["min_cuda"], boot_s=values["boot_s"])
