"""The model registry from the command line.

    manage.py aima_models add NAME VERSION FILE [--sha256 HEX] [--task T] [--min-vram GB]
                              [--precision P] [--config JSON] [--activate | --canary SHARE]
    manage.py aima_models list
    manage.py aima_models activate NAME VERSION
    manage.py aima_models canary NAME VERSION SHARE
    manage.py aima_models retire NAME VERSION
    manage.py aima_models rollback NAME
"""

from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from aima_tasks.kernel.analyses import Precision
from aima_web.audit import trail
from aima_web.core import content
from aima_web.core.progress_bar import track
from aima_web.registry import biometric, services
from aima_web.registry.models import SHA256, ModelArtifact, ModelStatus

CHUNK = 1024 * 1024
MIB = 1024 * 1024


class Command(BaseCommand):
    help = "Store model artifacts for agents (by their SHA-256), or list the stored ones."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True,
            metavar="{add,list,activate,canary,retire,rollback}")
        add = actions.add_parser("add", help="store a model file under a name and version")
        add.add_argument("name", help="e.g. yolov8n-person")
        add.add_argument("version", help="e.g. 1.0")
        add.add_argument("file", type=Path)
        add.add_argument("--sha256", metavar="HEX",
                         help="what the file must hash to (from its publisher); refused if not")
        add.add_argument("--task", default="",
                         help="the analysis model task it serves, e.g. person-detection")
        add.add_argument("--min-vram", type=gigabytes, default=0.0, metavar="GB",
                         help="GPU memory it needs (default 0)")
        add.add_argument("--precision", choices=[p.value for p in Precision],
                         default=Precision.FP32.value, help="of its weights (default fp32)")
        add.add_argument("--config", type=json_object, default={}, metavar="JSON",
                         help='loader options, e.g. \'{"labels": ["person"], "input_size": 640}\'')
        status = add.add_mutually_exclusive_group()
        status.add_argument("--activate", action="store_true",
                            help="make it the active version of its name at once")
        status.add_argument("--canary", type=share, metavar="SHARE",
                            help="try it on this share (0-1) of jobs first")
        actions.add_parser("list", help="the stored artifacts")
        for move, text in (("activate", "make a version the active one (retires the other)"),
                           ("retire", "stop offering a version")):
            one = actions.add_parser(move, help=text)
            one.add_argument("name")
            one.add_argument("version")
        canary = actions.add_parser("canary", help="offer a version to a share of jobs")
        canary.add_argument("name")
        canary.add_argument("version")
        canary.add_argument("share", type=share, help="0-1")
        rollback = actions.add_parser(
            "rollback", help="retire the active version and reactivate the one before it")
        rollback.add_argument("name")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            for artifact in ModelArtifact.objects.all():
                self.stdout.write("\t".join(str(v) for v in (
                    artifact.name, artifact.version, artifact.task or "-", artifact.status,
                    artifact.canary_share, artifact.precision, artifact.min_vram_gb,
                    artifact.size_bytes, artifact.sha256, artifact.filename)))
            return
        if action == "rollback":
            try:
                restored = services.roll_back(options["name"], trail.SYSTEM)
            except services.RegistryError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{restored.name}: version {restored.version} is active again")
            return
        if action in ("activate", "retire", "canary"):
            artifact = ModelArtifact.objects.filter(name=options["name"],
                                                    version=options["version"]).first()
            if artifact is None:
                raise CommandError(f"no model {options['name']} {options['version']}; "
                                   "`aima_models list` shows the stored ones")
            self.move(artifact, action, options.get("share"))
            return
        artifact = self.add(options["name"], options["version"], options["file"],
                            options["sha256"], options)
        if options["activate"]:
            self.move(artifact, "activate", None)
        elif options["canary"] is not None:
            self.move(artifact, "canary", options["canary"])

    def move(self, artifact: ModelArtifact, action: str, share: float | None) -> None:
        status = {"activate": ModelStatus.ACTIVE, "retire": ModelStatus.RETIRED,
                  "canary": ModelStatus.CANARY}[action]
        try:
            moved = services.set_status(artifact, status, trail.SYSTEM, canary_share=share)
        except services.RegistryError as exc:
            raise CommandError(str(exc)) from None
        share = f" for {moved.canary_share:.0%} of jobs" if status == ModelStatus.CANARY else ""
        self.stdout.write(f"{moved.name} {moved.version} is {moved.status}{share}")

    def add(self, name: str, version: str, file: Path, expected: str | None,
            options: dict[str, Any]) -> ModelArtifact:
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
        # An enrolment (a voice, a face) is sealed at rest; its SHA-256 stays the plaintext's.
        # A bar on a terminal (model files run to gigabytes), nothing in a log.
        reading = track(chunks(file), file.stat().st_size / MIB, f"importing {file.name}",
                        size=lambda chunk: len(chunk) / MIB, unit=" MiB")
        received = content.receive(reading, root,
                                   writer=biometric.writer_for(options["task"]))
        if expected is not None and received.sha256 != expected:
            received.path.unlink(missing_ok=True)
            raise CommandError(f"{file} hashes to {received.sha256}, not the {expected} "
                               f"given: refused, nothing stored")
        try:
            with transaction.atomic():
                artifact = ModelArtifact.objects.create(
                    name=name, version=version, sha256=received.sha256,
                    size_bytes=received.size_bytes, filename=file.name, task=options["task"],
                    min_vram_gb=options["min_vram"], precision=options["precision"],
                    config=options["config"])
        except IntegrityError:
            received.path.unlink(missing_ok=True)
            raise CommandError(f"{file} is stored already, as "
                               f"{ModelArtifact.objects.get(sha256=received.sha256)}") from None
        content.keep(received, root)
        trail.record(trail.SYSTEM, "model.added", f"model:{artifact.id}", name=name,
                     version=version, sha256=received.sha256, size_bytes=received.size_bytes)
        self.stdout.write(f"stored {artifact} ({received.size_bytes} bytes)")
        return artifact


# Checked while the arguments are read, so a bad one stores nothing.
def share(text: str) -> float:
    return _argument(text, lambda value: 0.0 <= value <= 1.0,
                     "write a share between 0 and 1, e.g. 0.1")


def gigabytes(text: str) -> float:
    return _argument(text, lambda value: 0.0 <= value < 10_000,
                     "write the GPU memory in GB, e.g. 6")


def _argument(text: str, fits: Callable[[float], bool], hint: str) -> float:
    """``text`` as a number that ``fits``; ``hint`` says what to write instead."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0  # fits nothing: the hint is the answer
    if not fits(value):
        raise ArgumentTypeError(f"{text!r}: {hint}")
    return value


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentTypeError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArgumentTypeError('write a JSON object, e.g. {"labels": ["person"]}')
    return value


def chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
