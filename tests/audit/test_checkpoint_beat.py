"""The beat anchors the chain's head in the checkpoint file, and refuses to anchor
a chain broken since the last checkpoint."""

from __future__ import annotations

import json
import logging

import pytest

from aima_tasks.kernel.routing import CONTROL_QUEUE, TaskName
from aima_tasks.topology import route_task
from aima_web.audit import checkpoints, trail
from aima_web.audit.models import AuditEvent
from aima_web.audit.tasks import checkpoint_task
from aima_web.celery import app, schedule_periodic_tasks
from tests.audit.conftest import audit, raw_sql, refused

pytestmark = pytest.mark.django_db


def test_the_beat_runs_the_checkpoint_on_the_control_queue(settings):
    settings.AIMA_AUDIT_CHECKPOINT_S = 17
    schedule_periodic_tasks(app)
    assert app.conf.beat_schedule["audit-checkpoint"] == {
        "task": TaskName.AUDIT_CHECKPOINT.value, "schedule": 17.0}
    assert route_task(TaskName.AUDIT_CHECKPOINT.value, (), {}, {}) == {"queue": CONTROL_QUEUE}


def test_a_checkpoint_holds_the_head_and_its_mac(checkpoint_file):
    assert checkpoint_task() is None and not checkpoint_file.exists()  # nothing to anchor
    for n in range(3):
        head = trail.record(trail.SYSTEM, "job.failed", f"job:{n}")
    assert checkpoint_task() == head.seq
    assert checkpoint_task() is None  # nothing new: no second line
    line = json.loads(checkpoint_file.read_text())
    assert (line["seq"], line["hash"], line["count"]) == (head.seq, head.hash, 3)
    assert set(line) == {"seq", "hash", "count", "at", "mac"}
    assert checkpoints.read(checkpoint_file)[0].checkpoint is not None
    trail.record(trail.SYSTEM, "job.failed", "job:9")
    assert checkpoint_task() == head.seq + 1
    assert len(checkpoint_file.read_text().splitlines()) == 2


def test_a_chain_broken_since_the_last_checkpoint_is_not_anchored(checkpoint_file, caplog):
    for n in range(4):
        trail.record(trail.SYSTEM, "job.failed", f"job:{n}")
    checkpoint_task()
    edited = trail.record(trail.SYSTEM, "job.failed", "job:7")
    trail.record(trail.SYSTEM, "job.failed", "job:8")
    raw_sql("UPDATE {table} SET subject = %s WHERE id = %s", ["job:70", edited.id])
    with caplog.at_level(logging.ERROR, logger="aima_web.audit.tasks"):
        assert checkpoint_task() is None
    assert f"row id={edited.id} seq={edited.seq}: its content does not hash" in caplog.text
    assert len(checkpoint_file.read_text().splitlines()) == 1
    assert AuditEvent.objects.count() == 6


def test_a_checkpoint_file_that_cannot_be_written_is_named(settings, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.AIMA_AUDIT_CHECKPOINTS = blocker / "checkpoints.jsonl"
    trail.record(trail.SYSTEM, "job.failed", "job:1")
    assert f"cannot write {blocker}/checkpoints.jsonl" in refused("checkpoint")
    with caplog.at_level(logging.ERROR, logger="aima_web.audit.tasks"):
        assert checkpoint_task() is None
    assert "cannot write" in caplog.text


def test_verify_reads_the_checkpoint_file_it_is_given(checkpoint_file, tmp_path):
    for n in range(3):
        trail.record(trail.SYSTEM, "job.failed", f"job:{n}")
    audit("checkpoint")
    kept_apart = tmp_path / "copy.jsonl"
    kept_apart.write_text(checkpoint_file.read_text())
    checkpoint_file.unlink()  # the attacker removes the file the server writes…
    raw_sql("DELETE FROM {table} WHERE seq = 3")
    assert "no checkpoint covers these rows" in audit("verify")
    # …but not the copy kept elsewhere.
    assert "row seq=3: missing" in refused("verify", "--checkpoints", str(kept_apart))
