"""The credential an agent keeps between starts, so that it comes back as the
same agent without a new enrollment token (tokens are single use).

Kept in a file only its user can read, one per control plane, host name and
set of GPUs: several agents on one host (tests, a host with two control
planes) do not take each other's identity.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from agents.gpus import GpuInfo


def path(workdir: Path, control_plane_url: str, name: str, gpus: list[GpuInfo]) -> Path:
    key = "\0".join([control_plane_url.rstrip("/"), name, *sorted(g.uuid for g in gpus)])
    return workdir / "identity" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def load(workdir: Path, control_plane_url: str, name: str, gpus: list[GpuInfo]) -> str:
    """The kept credential, or '' when there is none (or it cannot be read)."""
    try:
        kept = json.loads(path(workdir, control_plane_url, name, gpus).read_text())
    except (OSError, ValueError):
        return ""
    credential = kept.get("credential") if isinstance(kept, dict) else None
    return credential if isinstance(credential, str) else ""


def save(workdir: Path, control_plane_url: str, name: str, gpus: list[GpuInfo],
         credential: str) -> None:
    target = path(workdir, control_plane_url, name, gpus)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_suffix(".tmp")
    # Created 0600 from the start: the credential is never readable by others.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"control_plane": control_plane_url, "credential": credential}, out)
    os.replace(partial, target)
