"""A checkpoint file per test, and the trail's commands as the tests call them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from aima_web.audit.models import AuditEvent


@pytest.fixture(autouse=True)
def checkpoint_file(settings, tmp_path: Path) -> Path:
    settings.AIMA_AUDIT_CHECKPOINTS = tmp_path / "audit" / "checkpoints.jsonl"
    return settings.AIMA_AUDIT_CHECKPOINTS


def audit(*args: str) -> str:
    """Run ``manage.py aima_audit ARGS``; its standard output."""
    out = io.StringIO()
    call_command("aima_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> str:
    """Run ``manage.py aima_audit ARGS``, which must fail; its error."""
    with pytest.raises(CommandError) as caught:
        audit(*args)
    assert caught.value.returncode != 0
    return str(caught.value)


def raw_sql(statement: str, params: list | None = None) -> int:
    """What an attacker with database access does: SQL, around every Python check."""
    with connection.cursor() as cursor:
        cursor.execute(statement.replace("{table}", AuditEvent._meta.db_table), params or [])
        return cursor.rowcount
