"""The ``vastai`` provider's settings (``AIMA_VASTAI_<KEY>``, see
``providers.vastai``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from providers.errors import AuthError

NAME = "vastai"
DEFAULT_URL = "https://console.vast.ai"


@dataclass(frozen=True)
class Settings:
    api_key: str
    url: str = DEFAULT_URL
    timeout_s: float = 30.0
    retries: int = 3
    storage_gb: float = 40.0
    boot_s: float = 300.0

    @classmethod
    def read(cls, settings: Mapping[str, str]) -> Settings:
        key = (settings.get("api_key") or "").strip()
        if not key:
            raise AuthError("vastai: no API key; set AIMA_VASTAI_API_KEY")
        return cls(
            api_key=key,
            url=(settings.get("url") or DEFAULT_URL).rstrip("/"),
            timeout_s=_number(settings, "timeout_s", cls.timeout_s),
            retries=max(1, int(_number(settings, "retries", cls.retries))),
            storage_gb=_number(settings, "storage_gb", cls.storage_gb),
            boot_s=_number(settings, "boot_s", cls.boot_s),
        )


def _number(settings: Mapping[str, str], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw is None or not raw.strip():
        return float(default)
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"vastai: AIMA_VASTAI_{key.upper()} must be a number, "
                         f"not {raw!r}") from None
