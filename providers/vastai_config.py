"""The ``vastai`` provider's settings (``AIMA_VASTAI_<KEY>``, see
``providers.vastai``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.settings_schema import IMAGE, Setting, parse

NAME = "vastai"
DEFAULT_URL = "https://console.vast.ai"

SETTINGS: tuple[Setting, ...] = (
    Setting("api_key", str, required=True, secret=True, help="a Vast.ai API key"),
    Setting("url", str, DEFAULT_URL, help="the API server"),
    Setting("timeout_s", float, 30.0, help="seconds per HTTP request (the SDK's own is 120)"),
    Setting("retries", int, 3, help="attempts per call on 429/502/503/504 and lost connections"),
    Setting("storage_gb", float, 40.0, help="disk the offers are priced with"),
    Setting("boot_s", float, 300.0, help="expected seconds from rent to a running agent"),
    IMAGE,
)


@dataclass(frozen=True)
class Settings:
    api_key: str = field(repr=False)
    url: str = DEFAULT_URL
    timeout_s: float = 30.0
    retries: int = 3
    storage_gb: float = 40.0
    boot_s: float = 300.0

    @classmethod
    def read(cls, settings: Mapping[str, str]) -> Settings:
        values = parse(NAME, SETTINGS, settings)
        return cls(api_key=values["api_key"].strip(), url=values["url"].rstrip("/"),
                   timeout_s=values["timeout_s"], retries=max(1, values["retries"]),
                   storage_gb=values["storage_gb"], boot_s=values["boot_s"])
