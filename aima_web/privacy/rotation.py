"""Key rotation: a fresh current key, then every stored medium, enrolment (voice,
face: ``aima_web.registry.biometric``) and result sealed again with it, while the
service runs (``manage.py aima_keys``). Enrolment files count as media files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from aima_web.audit import trail
from aima_web.jobs import storage
from aima_web.jobs.models import AnalysisResult, MediaAsset, SegmentResult
from aima_web.privacy import keyring
from aima_web.privacy.fields import key_id_of_text
from aima_web.privacy.sealing import Unreadable
from aima_web.registry import biometric

RESULT_MODELS = (AnalysisResult, SegmentResult)
SEALED_FIELDS = ("data", "meta")
BATCH = 200
UNREADABLE = "(unreadable)"


@dataclass(frozen=True)
class Usage:
    """Which keys seal what: media files and result rows per key id."""

    media: Counter[str]
    results: Counter[str]

    def stale(self, current: str) -> int:
        return (sum(n for k, n in self.media.items() if k != current)
                + sum(n for k, n in self.results.items() if k != current))


def _sealed_with(model: type) -> dict[int, set[str]]:
    """The key ids of each row's sealed fields, read from the stored text."""
    raw = model.objects.annotate(**{f"raw_{f}": Cast(f, TextField()) for f in SEALED_FIELDS})
    rows = raw.values_list("pk", *(f"raw_{f}" for f in SEALED_FIELDS))
    return {pk: {_key_of_text(text) for text in texts} for pk, *texts in rows.iterator()}


def _key_of_text(text: str) -> str:
    try:
        return key_id_of_text(text)
    except Unreadable:
        return UNREADABLE


def _key_of(path: Path) -> str:
    try:
        return storage.key_of(path)
    except Unreadable:
        return UNREADABLE


def usage() -> Usage:
    media = Counter(_key_of(path) for path in storage.stored_media())
    media.update(_key_of(artifact.path) for artifact in biometric.enrolments()
                 if artifact.path.exists())
    results: Counter[str] = Counter()
    for model in RESULT_MODELS:
        for keys in _sealed_with(model).values():
            results.update(keys)
    return Usage(media=media, results=results)


def reseal_all() -> tuple[int, int]:
    """Seal every medium and result row not sealed with the current key again with it;
    return how many of each changed."""
    media = sum(_reseal_medium(path) for path in storage.stored_media())
    media += sum(biometric.reseal(artifact.pk) for artifact in list(biometric.enrolments()))
    current = keyring.load().current
    rows = 0
    for model in RESULT_MODELS:
        stale = [pk for pk, keys in _sealed_with(model).items() if keys != {current}]
        for start in range(0, len(stale), BATCH):
            rows += _reseal_rows(model, stale[start:start + BATCH])
    return media, rows


def _reseal_medium(path: Path) -> bool:
    # Under the asset's lock, as retention deletes: a file it deletes meanwhile is
    # not written back by the rename.
    with transaction.atomic():
        list(MediaAsset.objects.select_for_update().filter(sha256=path.name))
        try:
            return storage.reseal(path)
        except FileNotFoundError:
            return False


def _reseal_rows(model: type, pks: list[int]) -> int:
    # Locked while rewritten, so a result an agent stores meanwhile is not overwritten
    # with the value read before it.
    with transaction.atomic():
        rows = model.objects.select_for_update().filter(pk__in=pks)
        for row in rows:
            model.objects.filter(pk=row.pk).update(data=row.data, meta=row.meta)
        return len(rows)


def rotate(actor: str) -> tuple[str, int, int]:
    key_id = keyring.add_current()
    media, rows = reseal_all()
    trail.record(actor, "keys.rotated", f"key:{key_id}", media=media, results=rows)
    return key_id, media, rows


class StillInUse(RuntimeError):
    pass


def retire_old(actor: str) -> list[str]:
    """Drop every key but the current one, after sealing anything still under an old
    key again; refuse if something (an upload still incoming) still needs one."""
    reseal_all()
    current = keyring.load().current
    # An upload that has not written its header yet counts as in flight too.
    in_flight = [path for path in storage.incoming_media() if _key_of(path) != current]
    left = usage().stale(current) + len(in_flight)
    if left:
        raise StillInUse(f"{left} stored files or results (uploads in flight included) are "
                         "still sealed with an old key; run retire-old again shortly")
    retired = keyring.retire_all_but_current()
    trail.record(actor, "keys.retired", f"key:{current}", retired=retired)
    return retired
