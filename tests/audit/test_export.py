"""`aima_audit export`: the rows with their hashes, which re-verify outside the
database; bad arguments are refused by name."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import stat
import uuid

import pytest
from django.core.management.base import CommandError

from aima_web.audit import chain, trail
from aima_web.audit.models import AuditEvent
from tests.audit.conftest import audit, refused

pytestmark = pytest.mark.django_db


class Colour(enum.Enum):
    RED = "red"


@pytest.fixture
def events() -> list[AuditEvent]:
    odd = {"price": decimal.Decimal("0.4210"),
           "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
           "id": uuid.UUID(int=7), "colour": Colour.RED, "tags": ("a", "b"), "huge": 1e300,
           "nested": {1: [0.1, None, True]}, "name": "Zoë\x00", "nan": float("nan")}
    return [trail.record("user:alice", "job.submitted", f"job:{n}", n=n, **odd) for n in range(4)]


def test_details_are_stored_exactly_as_hashed(events):
    stored = AuditEvent.objects.get(id=events[0].id)
    assert stored.detail == {
        "price": "0.4210", "at": "2026-01-02T03:04:05.000000+00:00",
        "id": "00000000-0000-0000-0000-000000000007", "colour": "red", "tags": ["a", "b"],
        "huge": int(1e300), "nested": {"1": [0.1, None, True]}, "name": "Zoë\ufffd", "nan": "nan",
        "n": 0}
    assert chain.digest(stored.chain_fields()) == stored.hash == events[0].hash


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_re_verifies(events, tmp_path, fmt):
    exported = tmp_path / f"trail.{fmt}"
    audit("export", "--format", fmt, "--out", str(exported))
    assert "intact: 4 rows" in audit("verify", "--export", str(exported))
    lines = exported.read_text().splitlines()
    assert len(lines) == 4 + (fmt == "csv")
    # A party without the database re-verifies with the documented recipe alone.
    rows = ([json.loads(line) for line in lines] if fmt == "jsonl"
            else [e.chain_fields() for e in AuditEvent.objects.order_by("seq")])
    assert [r["hash"] for r in rows] == [chain.digest(r) for r in rows]


def test_an_edited_export_is_named(events, tmp_path):
    exported = tmp_path / "trail.jsonl"
    audit("export", "--out", str(exported))
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    rows[2]["actor"] = "user:mallory"
    exported.write_text("".join(json.dumps(r) + "\n" for r in rows))
    error = refused("verify", "--export", str(exported))
    assert f"row id={rows[2]['id']} seq=3: its content does not hash" in error


def test_export_to_standard_output_and_since(events):
    AuditEvent.objects.filter(seq__lte=2).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    everything = audit("export").splitlines()
    assert [json.loads(line)["seq"] for line in everything] == [1, 2, 3, 4]
    recent = audit("export", "--since", "2021-01-01", "--format", "csv").splitlines()
    assert recent[0].startswith("id,seq,created_at") and len(recent) == 3


def test_an_export_cut_by_since_verifies_from_its_first_row(events, tmp_path, settings):
    audit("checkpoint")
    trail.record(trail.SYSTEM, "job.failed", "job:9")
    cut = tmp_path / "recent.csv"
    since = AuditEvent.objects.get(seq=3).created_at.isoformat()
    audit("export", "--since", since, "--format", "csv", "--out", str(cut))
    assert "intact: 3 rows" in audit("verify", "--export", str(cut))


@pytest.mark.parametrize("args, named", [
    (("export", "--since", "last tuesday"), "--since"),
    (("export", "--since", "2026-02-30"), "--since"),
    (("export", "--format", "xml"), "--format"),
    (("export", "--out", "/nonexistent/dir/trail.jsonl"), "--out /nonexistent/dir"),
    (("verify", "--export", "/nonexistent/trail.jsonl"), "--export /nonexistent"),
    (("verify", "--format", "csv"), "--format"),
    (("launder",), "launder"),
])
def test_bad_arguments_are_refused_by_name(args, named):
    with pytest.raises(CommandError, match=named.replace(".", r"\.")):
        audit(*args)


def test_an_export_that_is_not_one_is_refused(tmp_path):
    bogus = tmp_path / "trail.jsonl"
    bogus.write_text('{"seq": 1}\n')
    assert "line 1: not an audit row" in refused("verify", "--export", str(bogus))


@pytest.mark.parametrize("name, data, named", [
    ("trail.jsonl", b'{"seq": 1, "actor": "Zo\xeb"}\n', "not UTF-8 text"),
    ("trail.csv", b"id,seq\n1," + b"9" * 200_000 + b"\n", "not CSV (field larger than"),
], ids=["not-utf8", "csv-field-too-large"])
def test_an_export_that_cannot_be_read_is_refused_by_name(tmp_path, name, data, named):
    bogus = tmp_path / name
    bogus.write_bytes(data)
    assert f"--export {bogus}: {named}" in refused("verify", "--export", str(bogus))



def test_an_export_that_fails_reading_is_refused_by_name():
    # A file that opens and then fails its first read (EIO), for root as for anyone.
    error = refused("verify", "--export", "/proc/self/mem")
    assert error == "--export /proc/self/mem: Input/output error"


def test_export_out_writes_a_new_private_file_and_never_overwrites_one(events, tmp_path):
    exported = tmp_path / "trail.jsonl"
    audit("export", "--out", str(exported))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    written = exported.read_bytes()
    assert len(written.splitlines()) == 4
    error = refused("export", "--out", str(exported))
    assert error == f"--out {exported} exists: name a new file"
    assert exported.read_bytes() == written
