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
import shutil
import uuid
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution
from importlib.util import find_spec
from pathlib import Path

from agents.analyzers.context import LoadedModel
from agents.control_plane import ChecksumMismatch, ControlPlane
from aima_tasks.kernel.analyses import ModelFile

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file; of a folder, the SHA-256 of its files' relative paths and
    checksums in path order (a model made of several files, e.g. Whisper's folder)."""
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
    if model.assembled:
        path, found = _assembled(model)
    else:
        path = _located(model.distribution, model.path, model)
        found = sha256_of(path)
    if found != model.sha256:
        raise ModelRefused(
            f"model {model.name} {model.version} refused: {path} hashes to {found}, not the "
            f"pinned {model.sha256} (a damaged file or another {model.distribution} version)")
    return LoadedModel(model.name, model.version, model.sha256, path)


def assembly_root() -> Path:
    """Where models joined from several packages are kept, one folder per checksum."""
    configured = os.environ.get("AIMA_MODEL_ASSEMBLY_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "aima" / "models"


def _located(dist: str, inside: str, model: ModelFile) -> Path:
    """A file inside an installed distribution. Found through its top-level package
    first, so that an editable install (AIMA's own files) resolves to its source tree."""
    try:
        where = distribution(dist)
    except PackageNotFoundError:
        raise ModelRefused(f"model {model.name} {model.version}: the package {dist} that "
                           "carries it is not installed") from None
    top, _, rest = inside.partition("/")
    spec = find_spec(top) if top.isidentifier() else None
    candidates = [Path(where.locate_file(inside))]
    if spec is not None and spec.submodule_search_locations:
        candidates.insert(0, Path(next(iter(spec.submodule_search_locations))) / rest)
    for path in candidates:
        if path.exists():
            return path
    raise ModelRefused(f"model {model.name} {model.version}: {inside} is missing from the "
                       f"installed {dist}")


def _assembled(model: ModelFile) -> tuple[Path, str]:
    """The model's folder, joined from its packages' pieces once and kept by checksum,
    and the folder's checksum (hashed once: 145 MB for Whisper base); a folder that no
    longer hashes to the pin is joined again."""
    target = assembly_root() / model.sha256
    if target.is_dir():
        found = sha256_of(target)
        if found == model.sha256:
            return target, found
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.parent / f".incoming-{uuid.uuid4().hex}"
    incoming.mkdir()
    try:
        for name, pieces in model.assembled:
            with (incoming / name).open("wb") as out:
                for dist, inside in pieces:
                    with _located(dist, inside, model).open("rb") as piece:
                        shutil.copyfileobj(piece, out, CHUNK)
        if target.exists():  # damaged: replaced whole, never patched
            shutil.rmtree(target)
        os.replace(incoming, target)
    finally:
        if incoming.exists():
            shutil.rmtree(incoming)
    log.info("model %s %s assembled in %s", model.name, model.version, target)
    return target, sha256_of(target)


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
