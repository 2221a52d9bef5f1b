"""Results sealed in the database, the keyring, and key rotation without downtime."""

from __future__ import annotations

import importlib
import json
import re
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython
from django.utils import timezone

from aima_web.audit.models import AuditEvent
from aima_web.jobs import storage
from aima_web.jobs.models import AnalysisResult, Job, SegmentResult
from aima_web.jobs.tasks import probe_task
from aima_web.privacy import keyring
from aima_web.privacy.fields import key_id_of_text
from tests.privacy.conftest import submitted

pytestmark = pytest.mark.django_db

SECRET = "the suspect left at 21:04 by the north exit"


def add_results(job: Job) -> None:
    now = timezone.now()
    times = {"started_at": now - timedelta(seconds=5), "finished_at": now}
    AnalysisResult.objects.create(job=job, analysis="transcript", data={"text": SECRET},
                                  meta={"device": "cuda:0"}, **times)
    SegmentResult.objects.create(job=job, analysis="transcript", index=0,
                                 data={"text": SECRET}, **times)


def raw_rows() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT data, meta FROM jobs_analysisresult "
                       "UNION ALL SELECT data, meta FROM jobs_segmentresult")
        return cursor.fetchall()


def test_results_are_sealed_in_the_database_and_read_as_json(api, image_file):
    job = submitted(api, image_file.path)
    add_results(job)
    rows = raw_rows()
    assert len(rows) == 2
    assert all(SECRET not in text and "cuda" not in text for row in rows for text in row)
    assert all(text.startswith("sealed:") for row in rows for text in row)
    result = AnalysisResult.objects.get(job=job)
    assert result.data == {"text": SECRET} and result.meta == {"device": "cuda:0"}
    assert api.get(f"/api/v1/jobs/{job.id}/results/").json()[0]["data"] == {"text": SECRET}


def test_the_default_keyring_is_made_private_on_first_use(keyring_file):
    ring = keyring.load()
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyring_file.parent.stat().st_mode) == 0o700
    assert json.loads(keyring_file.read_text())["current"] == ring.current


def test_a_named_keyring_must_exist_and_be_private(settings, keyring_file):
    settings.AIMA_KEYRING_CREATE = False
    with pytest.raises(keyring.KeyringError, match="aima_keys init"):
        keyring.load()
    call_command("aima_keys", "init")
    keyring_file.chmod(0o640)
    with pytest.raises(keyring.KeyringError, match="chmod 600"):
        keyring.load()


def sealing_keys() -> set[str]:
    media = {storage.key_of(path) for path in storage.stored_media()}
    rows = {key_id_of_text(text) for row in raw_rows() for text in row}
    return media | rows


def everything_reads(jobs: list[Job], samples: list[bytes]) -> None:
    for job, plain in zip(jobs, samples, strict=True):
        with storage.open_media(job.media.sha256) as media:
            assert media.read() == plain
        assert AnalysisResult.objects.get(job=job).data == {"text": SECRET}
        assert SegmentResult.objects.get(job=job).data == {"text": SECRET}


def test_rotation_seals_everything_again_and_the_old_key_can_go(api, image_file, audio_file,
                                                                 capsys):
    samples = [image_file.path, audio_file.path]
    jobs = [submitted(api, path) for path in samples]
    for job in jobs:
        add_results(job)
    old = keyring.load().current
    assert sealing_keys() == {old}

    reading = storage.open_media(jobs[1].media.sha256)  # a download under way
    first = reading.read(1000)
    call_command("aima_keys", "rotate")
    assert first + reading.read() == audio_file.path.read_bytes()
    reading.close()
    new = keyring.load().current
    assert new != old and set(keyring.load().keys) == {old, new}
    assert sealing_keys() == {new}
    everything_reads(jobs, [path.read_bytes() for path in samples])
    assert AuditEvent.objects.filter(action="keys.rotated", subject=f"key:{new}").exists()

    call_command("aima_keys", "retire-old")
    assert set(keyring.load().keys) == {new}
    everything_reads(jobs, [path.read_bytes() for path in samples])
    probe_task(str(jobs[0].id))  # the probe reads the media after rotation too
    jobs[0].refresh_from_db()
    assert jobs[0].media.probed_at is not None

    call_command("aima_keys", "status")
    assert re.search(rf"{new}\s+current\s+media files:\s+2\s+result rows:\s+4",
                     capsys.readouterr().out)


def test_retiring_waits_for_an_upload_still_sealed_with_the_old_key(api, image_file,
                                                                     media_root):
    job = submitted(api, image_file.path)
    old_file = storage.content_path(job.media.sha256)
    incoming = media_root / "incoming" / "in-flight"
    incoming.write_bytes(old_file.read_bytes())
    call_command("aima_keys", "rotate")
    with pytest.raises(CommandError, match="still sealed with an old key"):
        call_command("aima_keys", "retire-old")
    assert len(keyring.load().keys) == 2
    incoming.unlink()
    call_command("aima_keys", "retire-old")
    assert len(keyring.load().keys) == 1


def test_the_migration_seals_the_results_stored_before_it(api, image_file):
    job = submitted(api, image_file.path)
    add_results(job)
    with connection.cursor() as cursor:  # as the rows stood before: plain JSON
        for table in ("jobs_analysisresult", "jobs_segmentresult"):
            cursor.execute(f"UPDATE {table} SET data = %s, meta = %s",
                           [json.dumps({"text": SECRET}), json.dumps({"device": "cuda:0"})])
    migration = importlib.import_module(
        "aima_web.jobs.migrations.0005_sealed_results_and_retention")
    state = MigrationLoader(connection).project_state(("jobs", "0004_results_meta_and_segments"))
    for operation in migration.Migration.operations:
        if isinstance(operation, RunPython):
            operation.code(state.apps, None)
            break
        operation.state_forwards("jobs", state)
    assert all(text.startswith("sealed:") and SECRET not in text
               for row in raw_rows() for text in row)
    for model in (AnalysisResult, SegmentResult):
        result = model.objects.get(job=job)
        assert result.data == {"text": SECRET} and result.meta == {"device": "cuda:0"}


def test_processes_starting_together_agree_on_one_key(keyring_file):
    start = threading.Barrier(8)

    def first_use() -> str:
        start.wait()
        return keyring.load().current

    with ThreadPoolExecutor(8) as pool:
        seen = set(pool.map(lambda _: first_use(), range(8)))
    assert seen == {json.loads(keyring_file.read_text())["current"]}
    with pytest.raises(keyring.KeyringError, match="exists"):
        keyring.create()
