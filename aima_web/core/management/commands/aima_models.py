"""``manage.py aima_models add NAME VERSION FILE [--sha256 HEX]`` stores a
model artifact for agents to fetch; ``manage.py aima_models list`` shows them."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from aima_web.audit import trail
from aima_web.core import content
from aima_web.registry.models import SHA256, ModelArtifact

CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = "Store model artifacts for agents (by their SHA-256), or list the stored ones."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list}")
        add = actions.add_parser("add", help="store a model file under a name and version")
        add.add_argument("name", help="e.g. yolov8n-person")
        add.add_argument("version", help="e.g. 1.0")
        add.add_argument("file", type=Path)
        add.add_argument("--sha256", metavar="HEX",
                         help="what the file must hash to (from its publisher); refused if not")
        actions.add_parser("list", help="the stored artifacts")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for artifact in ModelArtifact.objects.all():
                self.stdout.write(f"{artifact.name}\t{artifact.version}\t{artifact.size_bytes}"
                                  f"\t{artifact.sha256}\t{artifact.filename}")
            return
        self.add(options["name"], options["version"], options["file"], options["sha256"])

    def add(self, name: str, version: str, file: Path, expected: str | None) -> None:
        if expected is not None:
            expected = expected.lower()
            try:
                SHA256(expected)
            except ValidationError:
                raise CommandError(f"--sha256 {expected!r}: write 64 hex digits") from None
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        if ModelArtifact.objects.filter(name=name, version=version).exists():
            raise CommandError(f"{name} {version} is stored already; give a new version")
        root = Path(settings.AIMA_MODEL_ROOT)
        received = content.receive(chunks(file), root)
        if expected is not None and received.sha256 != expected:
            received.path.unlink(missing_ok=True)
            raise CommandError(f"{file} hashes to {received.sha256}, not the {expected} "
                               f"given: refused, nothing stored")
        try:
            with transaction.atomic():
                artifact = ModelArtifact.objects.create(
                    name=name, version=version, sha256=received.sha256,
                    size_bytes=received.size_bytes, filename=file.name)
        except IntegrityError:
            received.path.unlink(missing_ok=True)
            raise CommandError(f"{file} is stored already, as "
                               f"{ModelArtifact.objects.get(sha256=received.sha256)}") from None
        content.keep(received, root)
        trail.record(trail.SYSTEM, "model.added", f"model:{artifact.id}", name=name,
                     version=version, sha256=received.sha256, size_bytes=received.size_bytes)
        self.stdout.write(f"stored {artifact} ({received.size_bytes} bytes)")


def chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
