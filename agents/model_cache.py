"""Model artifacts on the agent, kept by checksum: ``<cache>/<sha256>/<filename>``.

An artifact is fetched from the control plane once, verified by its SHA-256
while it arrives, and moved into place only then; every later use hashes it
again before it is handed out, so a file damaged on disk is fetched anew, never
loaded. GPU workers of one host share the cache: each fetches into a private
temporary file and the move into place is atomic, so two fetching at once
cost a download, not a corrupt file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

from agents.control_plane import ControlPlane

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ModelCache:
    def __init__(self, root: Path, control_plane: ControlPlane):
        self.root = root
        self.control_plane = control_plane

    def path(self, sha256: str, filename: str) -> Path:
        # The file's own name stays: model loaders go by its extension.
        return self.root / sha256 / Path(filename).name

    def fetch(self, sha256: str, filename: str) -> Path:
        """The verified local copy of an artifact, fetched if need be. Raises
        ``ChecksumMismatch`` when the control plane sends other bytes."""
        target = self.path(sha256, filename)
        if target.exists():
            if sha256_of(target) == sha256:
                return target
            log.warning("cached %s does not hash to %s any more; fetching it again",
                        target, sha256)
            target.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.parent / f".incoming-{uuid.uuid4().hex}"
        self.control_plane.download_model(sha256, incoming)
        os.replace(incoming, target)
        log.info("model artifact %s fetched to %s", sha256[:12], target)
        return target
