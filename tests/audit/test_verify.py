"""`aima_audit verify` passes on a real history and fails, naming the row, after
a row is edited, a middle row deleted, or the newest rows deleted in SQL."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from aima_web.audit import chain, trail
from aima_web.audit.models import AuditEvent
from tests.audit.conftest import audit, raw_sql, refused
from tests.audit.history import make_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(api, django_user_model, tmp_path) -> dict[str, int]:
    return make_history(api, django_user_model, tmp_path)


def event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("seq")


def test_a_real_history_verifies(history, checkpoint_file):
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"job.submitted", "auth.login_failed", "auth.login", "admin.added", "admin.changed",
            "job.results_read"} <= actions
    count = AuditEvent.objects.count()
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, count + 1))
    summary = audit("verify")
    assert summary.startswith(f"audit trail intact: {count} rows") and "no checkpoint" in summary
    assert "checkpoint seq" in audit("checkpoint")
    assert "1 checkpoint(s) match" in audit("verify")


def test_an_edited_middle_row_is_named(history):
    submitted = event("job.submitted")
    assert submitted.seq < AuditEvent.objects.count()  # a middle row
    raw_sql("UPDATE {table} SET detail = %s WHERE id = %s",
            [json.dumps({"analyses": ["forged"]}), submitted.id])
    error = refused("verify")
    assert f"row id={submitted.id} seq={submitted.seq}:" in error and "row edited" in error


def test_a_deleted_middle_row_is_named(history):
    gone = event("auth.login_failed")
    after = AuditEvent.objects.get(seq=gone.seq + 1)
    assert raw_sql("DELETE FROM {table} WHERE id = %s", [gone.id]) == 1
    error = refused("verify")
    assert f"row id={after.id} seq={after.seq}: sequence gap: seq {gone.seq} missing" in error


def test_deleting_the_newest_rows_is_caught_by_the_checkpoint(history):
    audit("checkpoint")
    head = AuditEvent.objects.latest("seq").seq
    assert raw_sql("DELETE FROM {table} WHERE seq > %s", [head - 2]) == 2
    error = refused("verify")
    assert f"row seq={head - 1}: missing" in error and f"recorded seq {head}" in error
    # The chain that is left is perfectly linked: only the checkpoint knows.
    assert "newest rows were deleted" in error
    assert "newest rows were deleted" in refused("checkpoint")


def test_newest_rows_deleted_then_written_over_are_caught(history):
    audit("checkpoint")
    head = AuditEvent.objects.latest("seq").seq
    raw_sql("DELETE FROM {table} WHERE seq = %s", [head])
    replacement = trail.record(trail.SYSTEM, "job.cancelled", "job:1")
    assert replacement.seq == head
    error = refused("verify")
    assert f"row id={replacement.id} seq={head}: its hash is not the one checkpoint line 1" in error


def test_a_rewritten_chain_is_caught_by_the_checkpoint(history):
    """An attacker who knows the algorithm edits a row and re-hashes every row after it."""
    audit("checkpoint")
    target = event("auth.login_failed")
    raw_sql("UPDATE {table} SET actor = %s WHERE id = %s", ["user:nobody", target.id])
    prev_hash = AuditEvent.objects.get(seq=target.seq - 1).hash
    for row in AuditEvent.objects.filter(seq__gte=target.seq).order_by("seq"):
        fields = {**row.chain_fields(), "prev_hash": prev_hash}
        prev_hash = chain.digest(fields)
        raw_sql("UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
                [fields["prev_hash"], prev_hash, row.id])
    head = AuditEvent.objects.latest("seq")
    error = refused("verify")
    assert error.startswith(f"audit trail broken: row id={head.id} seq={head.seq}: its hash is "
                            f"not the one checkpoint line 1")


def test_an_edited_checkpoint_file_is_reported(history, checkpoint_file):
    audit("checkpoint")
    line = json.loads(checkpoint_file.read_text())
    checkpoint_file.write_text(json.dumps({**line, "seq": line["seq"] - 1}) + "\n")
    assert "checkpoint line 1: its MAC does not verify" in refused("verify")


def test_a_checkpoint_signed_with_another_key_is_reported(history, checkpoint_file, settings):
    settings.AIMA_AUDIT_KEY = "someone-else's-key"
    audit("checkpoint")
    settings.AIMA_AUDIT_KEY = ""
    assert "checkpoint line 1: its MAC does not verify" in refused("verify")
    assert "unusable" in refused("checkpoint")


def test_garbage_in_the_checkpoint_file_is_reported(history, checkpoint_file):
    audit("checkpoint")
    with checkpoint_file.open("a") as out:
        out.write("{not json\n")
    assert "checkpoint line 2: not a checkpoint" in refused("verify")


def test_an_event_rolled_back_with_its_transaction_leaves_no_gap(history):
    head = AuditEvent.objects.latest("seq").seq
    with pytest.raises(RuntimeError), transaction.atomic():
        trail.record(trail.SYSTEM, "job.cancelled", "job:1")
        raise RuntimeError("the outer work failed")
    assert trail.record(trail.SYSTEM, "job.cancelled", "job:1").seq == head + 1
    assert "intact" in audit("verify")
