"""Where the message broker is: RabbitMQ when configured, else a folder.

With nothing configured, AIMA uses kombu's filesystem transport, which needs no
server and works across processes on one machine. It cannot broadcast, so
remote control and worker events are switched off there.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_BROKER_URL = "filesystem://localhost//"


def var_dir() -> Path:
    """The folder for everything the embedded default keeps on disk."""
    return Path(os.environ.get("AIMA_VAR_DIR") or PROJECT_ROOT / "var").resolve()


def broker_url() -> str:
    return os.environ.get("AIMA_BROKER_URL") or EMBEDDED_BROKER_URL


def is_embedded(url: str) -> bool:
    return url.startswith("filesystem://")


def transport_options(url: str) -> dict:
    if is_embedded(url):
        folder = var_dir() / "broker"
        control = folder / "control"
        control.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            # Exchange bindings; kombu would put them in ./control otherwise.
            "control_folder": str(control),
            "store_processed": False,
            # Each hop of a pipeline waits up to one poll; keep hops short.
            "polling_interval": 0.1,
        }
    # Publisher confirms: a task counts as sent only once the broker has it.
    return {"confirm_publish": True}
