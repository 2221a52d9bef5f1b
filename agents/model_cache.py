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
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from agents.analyzers.context import LoadedModel
from agents.control_plane import ChecksumMismatch, ControlPlane
from aima_tasks.kernel.analyses import ModelFile

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file; of a folder, the SHA-256 of its files' relative paths and
    checksums in path order (a model made of several files, e.g. PocketSphinx's)."""
    if path.is_dir():
        listing = hashlib.sha256()
        for member in sorted(p for p in path.rglob("*") if p.is_file()):
            listing.update(f"{member.relative_to(path).as_posix()}\0{sha256_of(member)}\n"
                           .encode())
        return listing.hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ModelRefused(ChecksumMismatch):
    """A model file that does not hash to its pinned checksum: never loaded."""


def packaged_model(model: ModelFile) -> LoadedModel:
    """A built-in model file from its installed package, verified against its pin."""
    try:
        path = Path(distribution(model.distribution).locate_file(model.path))
    except PackageNotFoundError:
        raise ModelRefused(f"model {model.name} {model.version}: the package "
                           f"{model.distribution} that carries it is not installed") from None
    if not path.exists():
        raise ModelRefused(f"model {model.name} {model.version}: {path} is missing from the "
                           f"installed {model.distribution}")
    found = sha256_of(path)
    if found != model.sha256:
        raise ModelRefused(
            f"model {model.name} {model.version} refused: {path} hashes to {found}, not the "
            f"pinned {model.sha256} (a damaged file or another {model.distribution} version)")
    return LoadedModel(model.name, model.version, model.sha256, path)


def packaged_models(models: Iterable[ModelFile]) -> dict[str, LoadedModel]:
    """An analysis's built-in models by name, each verified."""
    return {model.name: packaged_model(model) for model in models}


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
