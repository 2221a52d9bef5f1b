"""``aima_simulate --what-if``: today's behaviour next to each option, as a
table and under ``what_if`` in the JSON; and the trace's deadline fields."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from aima_tasks.kernel.simulation import InputError, load_trace
from aima_tasks.kernel.simulation.report import VARIANT_KEYS, WHAT_IF_KEYS

EXAMPLE = Path(__file__).resolve().parents[2] / "bench" / "simulation"
ARGS = ("--trace", str(EXAMPLE / "trace.jsonl"), "--fleet", str(EXAMPLE / "fleet.json"),
        "--offers", str(EXAMPLE / "offers.csv"), "--strategy", "balanced")


def simulate(*args: str) -> str:
    out = io.StringIO()
    call_command("aima_simulate", *args, stdout=out)
    return out.getvalue()


def test_the_table_shows_each_option_next_to_today_and_the_bound():
    text = simulate(*ARGS, "--what-if")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("variant "))
    for column in ("cost $", "x bound", "wait p95", "idle GPU-h", "past deadline", "deferred"):
        assert column in header
    for name in ("today", "+pause", "+warm", "+offpeak", "+all", "lower_bound"):
        assert any(line.startswith(name + " ") for line in lines), name
    assert any(line.startswith("+offpeak off-peak verdicts: deferred_off_peak")
               for line in lines)


def test_the_json_has_a_what_if_section_with_the_documented_keys():
    document = json.loads(simulate(*ARGS, "--what-if", "--json"))
    section = document["what_if"]
    assert set(section) == set(WHAT_IF_KEYS)
    assert section["strategy"] == "balanced"
    assert list(section["variants"]) == ["today", "+pause", "+warm", "+offpeak", "+all"]
    for name, result in section["variants"].items():
        assert set(result) == set(VARIANT_KEYS), name
        assert result["past_deadline"] == 0, name
    today, everything = section["variants"]["today"], section["variants"]["+all"]
    # The example's archive ingests run on the local GPUs instead of the cloud.
    assert everything["deferred"] > 0
    assert everything["total_cost"] < today["total_cost"]
    assert today["cost_vs_bound"] == pytest.approx(today["total_cost"]
                                                   / section["lower_bound"], rel=1e-5)
    assert set(section["verdicts"]) == {"+offpeak", "+all"}


def test_without_the_flag_the_document_is_unchanged():
    assert "what_if" not in json.loads(simulate(*ARGS, "--json"))


def write_trace(tmp_path: Path, **fields: object) -> Path:
    record = {"id": "a", "arrival": "2026-11-23T09:00:00Z", "media_type": "image",
              "size_bytes": 1000, **fields}
    path = tmp_path / "trace.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return path


def test_a_trace_job_may_state_its_deadline_as_a_time_or_seconds(tmp_path):
    arrival = load_trace(write_trace(tmp_path))[0].arrival_s
    assert load_trace(write_trace(tmp_path))[0].deadline_s is None
    at = load_trace(write_trace(tmp_path, deadline="2026-11-24T09:00:00Z"))[0]
    assert at.deadline_s == arrival + 86400
    after = load_trace(write_trace(tmp_path, deadline_s=3600))[0]
    assert after.deadline_s == arrival + 3600


@pytest.mark.parametrize(("fields", "message"), [
    ({"deadline": "2026-11-23T08:00:00Z"}, "field 'deadline': must be after the arrival"),
    ({"deadline": "tomorrow"}, "field 'deadline': 'tomorrow' is not an ISO 8601 time"),
    ({"deadline_s": 0}, "field 'deadline_s': 0 must be a finite number > 0"),
    ({"deadline": "2026-11-24T09:00:00Z", "deadline_s": 60}, "not both"),
])
def test_a_bad_deadline_names_the_line_and_field(tmp_path, fields, message):
    with pytest.raises(InputError, match=message) as raised:
        load_trace(write_trace(tmp_path, **fields))
    assert ":1: " in str(raised.value)
