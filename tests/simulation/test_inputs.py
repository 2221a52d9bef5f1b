"""Trace, fleet and offer files: what they parse to, and errors that say where."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.classification import Confidentiality, GpuStatus, Urgency
from aima_tasks.kernel.placement import Policy
from aima_tasks.kernel.simulation.inputs import InputError, fleet_from_dict, load_fleet, load_trace
from aima_tasks.kernel.simulation.offers import load_offer_files

GOOD = {"id": "j1", "arrival": "2026-11-23T09:30:00Z", "media_type": "video",
        "size_bytes": 1000, "duration_s": 60}
HEADER = ("provider,instance_type,gpu_name,gpu_count,vram_gb_per_gpu,vcpus,memory_gb,region,"
          "price_per_hour,spot_price_per_hour")


def write_trace(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return path


# ---------------------------------------------------------------- trace

def test_a_trace_line_becomes_a_job_spec(tmp_path):
    path = write_trace(tmp_path, {**GOOD, "analyses": ["shots"], "confidentiality": "public",
                                  "urgency": "high", "priority": 3, "region": "EU",
                                  "groups": ["research"], "runtime_factor": 1.25})
    [job] = load_trace(path)
    assert job.job_id == "j1"
    assert job.arrival_s == datetime(2026, 11, 23, 9, 30, tzinfo=UTC).timestamp()
    assert job.runtime_factor == 1.25
    spec = job.spec
    assert (spec.media_type, spec.size_bytes, spec.duration_s) == (MediaType.VIDEO, 1000, 60.0)
    assert spec.analyses == ("shots",)
    assert spec.confidentiality == Confidentiality.PUBLIC
    assert spec.urgency == Urgency.HIGH
    assert (spec.priority, spec.region, spec.groups) == (3, "EU", frozenset({"research"}))


def test_defaults_run_every_applicable_analysis_as_an_internal_normal_job(tmp_path):
    [job] = load_trace(write_trace(tmp_path, GOOD))
    assert job.spec.analyses == tuple(catalogue().applicable(MediaType.VIDEO, has_audio=True))
    assert job.spec.confidentiality == Confidentiality.INTERNAL
    assert job.spec.urgency == Urgency.NORMAL
    assert job.runtime_factor == 1.0


def test_jobs_are_sorted_by_arrival_and_blank_lines_skipped(tmp_path):
    late = {**GOOD, "id": "late", "arrival": "2026-11-23T10:00:00+00:00"}
    early = {**GOOD, "id": "early", "arrival": "2026-11-23T11:00:00+02:00"}
    jobs = load_trace(write_trace(tmp_path, late, "", early))
    assert [j.job_id for j in jobs] == ["early", "late"]


@pytest.mark.parametrize("change, field, words", [
    ({"size_bytes": "big"}, "size_bytes", "whole number"),
    ({"size_bytes": -1}, "size_bytes", "whole number"),
    ({"media_type": "gif"}, "media_type", "audio, image, video"),
    ({"arrival": "yesterday"}, "arrival", "ISO 8601"),
    ({"arrival": "2026-11-23T09:30:00"}, "arrival", "no time zone"),
    ({"duration_s": None}, "duration_s", "missing"),
    ({"analyses": ["ocr"]}, "analyses", "unknown analysis 'ocr'"),
    ({"analyses": ["phash"]}, "analyses", "does not apply to video"),
    ({"analyses": []}, "analyses", "leave it out"),
    ({"confidentiality": "secret"}, "confidentiality", "confidential, internal, public"),
    ({"urgency": "asap"}, "urgency", "high, low, normal"),
    ({"priority": 1.5}, "priority", "whole number"),
    ({"groups": "research"}, "groups", "list of names"),
    ({"runtime_factor": 0}, "runtime_factor", "> 0"),
    ({"region": ""}, "region", "region prefix"),
])
def test_a_bad_field_is_named_with_file_and_line(tmp_path, change, field, words):
    path = write_trace(tmp_path, GOOD, {**GOOD, "id": "j2", **change})
    with pytest.raises(InputError) as raised:
        load_trace(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:2: field {field!r}")
    assert words in message


def test_missing_required_field(tmp_path):
    record = {k: v for k, v in GOOD.items() if k != "media_type"}
    with pytest.raises(InputError, match=r":1: field 'media_type': missing"):
        load_trace(write_trace(tmp_path, record))


@pytest.mark.parametrize("line, words", [
    ("{not json", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({**GOOD, "colour": "red"}), "unknown field 'colour'"),
])
def test_a_line_that_is_no_job_object(tmp_path, line, words):
    path = write_trace(tmp_path, GOOD, line)
    with pytest.raises(InputError, match=rf"^{path}:2: .*{words}"):
        load_trace(path)


def test_duplicate_ids_name_both_lines(tmp_path):
    with pytest.raises(InputError, match=r":2: field 'id': 'j1' is already the id of line 1"):
        load_trace(write_trace(tmp_path, GOOD, GOOD))


def test_missing_and_empty_traces(tmp_path):
    with pytest.raises(InputError, match="cannot read it"):
        load_trace(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no jobs"):
        load_trace(tmp_path / "empty.jsonl")


# ---------------------------------------------------------------- fleet

GPU = {"id": 1, "model": "NVIDIA GeForce RTX 4090", "vram_gb": 24, "cuda_version": "12.4"}


def test_fleet_file_gpus_costs_and_limits(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({
        "energy_price_per_kwh": 0.3, "idle_grace_s": 120, "cloud_capacity": {"aws": 2},
        "timezone": "Europe/Berlin",
        "gpus": [{**GPU, "host": "ws", "status": "maintenance", "access_groups": ["research"],
                  "availability_schedule": "Mon-Fri 18:00-08:00", "power_watts": 450,
                  "purchase_price": 2628, "lifetime_hours": 26280,
                  "profile": {"shots": 0.01}}]}))
    fleet = load_fleet(path)
    [gpu] = fleet.gpus
    assert gpu.status == GpuStatus.MAINTENANCE
    assert gpu.access_groups == frozenset({"research"})
    assert gpu.schedule.text == "Mon-Fri 18:00-08:00"
    # 0.45 kW x 0.30 + 2,628 / 26,280 h
    assert gpu.cost_per_hour == pytest.approx(0.135 + 0.1)
    assert dict(gpu.profile) == {"shots": 0.01}
    assert fleet.idle_grace_s == 120
    assert dict(fleet.cloud_capacity or {}) == {"aws": 2}
    assert str(fleet.timezone) == "Europe/Berlin"
    assert load_fleet(path, idle_grace_s=5).idle_grace_s == 5


@pytest.mark.parametrize("data, words", [
    ({"gpus": [{**GPU, "availability_schedule": "weekdays"}]},
     "gpus[0]: field 'availability_schedule'"),
    ({"gpus": [{**GPU, "vram_gb": "24"}]}, "gpus[0]: field 'vram_gb'"),
    ({"gpus": [{**GPU, "cuda_version": "twelve"}]}, "gpus[0]: field 'cuda_version'"),
    ({"gpus": [{**GPU, "status": "broken"}]}, "gpus[0]: field 'status'"),
    ({"gpus": [GPU, {k: v for k, v in GPU.items() if k != "model"}]},
     "gpus[1]: field 'model': missing"),
    ({"gpus": [GPU, GPU]}, "GPU id 1 appears more than once"),
    ({"gpus": [], "cloud_capacity": {"aws": 0}}, "field 'cloud_capacity': 'aws'"),
    ({"gpus": [], "timezone": "Mars/Olympus"}, "field 'timezone'"),
    ({"gpus": [], "spare": 1}, "unknown field 'spare'"),
    ({"gpus": [], "policy": {"local_tolerance": "ten"}}, "policy: field 'local_tolerance'"),
    ({"gpus": [], "policy": {"strategy": "balanced"}}, "--strategy"),
    ({"gpus": [], "policy": {"spot_urgencies": ["soon"]}}, "policy: field 'spot_urgencies'"),
    ({"gpus": [], "policy": {"upload_mbps": 0}}, "policy: field 'upload_mbps'"),
    ({"gpus": [], "policy": {"fastest": True}}, "policy: unknown field 'fastest'"),
])
def test_fleet_errors_name_the_entry_and_field(data, words):
    with pytest.raises(InputError) as raised:
        fleet_from_dict(data, "fleet.json")
    assert str(raised.value).startswith("fleet.json: ")
    assert words in str(raised.value)


def test_fleet_file_that_is_not_json(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text('{"gpus": [\n  oops]}')
    with pytest.raises(InputError, match=rf"^{path}:2: not JSON"):
        load_fleet(path)


def test_every_policy_field_but_the_strategy_can_be_overridden():
    overrides = {
        "provider_order": ["local", "aws"], "enabled_providers": ["aws"],
        "local_tolerance": 0.2, "large_media_gb": 5, "large_media_upload_s": 900,
        "large_media_cloud_advantage": 0.3, "urgent_local_wait_s": 60,
        "max_local_wait_s": 7200, "spot_urgencies": ["low"], "spot_interruption_per_hour": 0.5,
        "upload_mbps": 50, "min_reliability": 0.5, "max_price_age_s": 60,
        "max_hourly_price": 2.5, "max_job_cost": None, "monthly_budget": 100, "alternatives": 1,
        "currency": "EUR",
    }
    # A new Policy field must be taught to the fleet file (and to this test).
    assert set(overrides) == {f.name for f in fields(Policy)} - {"strategy"}
    policy = fleet_from_dict({"gpus": [], "policy": overrides}).policy
    assert policy.provider_order == ("local", "aws")
    assert policy.enabled_providers == frozenset({"aws"})
    assert policy.spot_urgencies == frozenset({Urgency.LOW})
    assert policy.max_job_cost is None
    assert (policy.monthly_budget, policy.alternatives, policy.upload_mbps) == (100, 1, 50)
    assert policy.currency == "EUR"


# ---------------------------------------------------------------- offers

def test_offer_files_with_a_capacity_column(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(f"{HEADER},capacity\n"
                     "aws,g5.xlarge,A10G,1,24,4,16,us-east-1,1.006,,2\n"
                     "aws,g6.xlarge,L4,1,24,4,16,us-east-1,0.8048,,\n")
    second = tmp_path / "b.csv"
    second.write_text(f"{HEADER}\nvastai,1x-RTX_4090,RTX4090,1,24,32,64,EU-ES,0.40,\n")
    loaded = load_offer_files([first, second])
    assert [o.instance_type for o in loaded.offers] == ["g5.xlarge", "g6.xlarge", "1x-RTX_4090"]
    assert dict(loaded.capacity) == {"aws:g5.xlarge:us-east-1": 2}


@pytest.mark.parametrize("rows, words", [
    ("aws,g5.xlarge,A10G,1,24,4,16,us-east-1,1.006,,none\n", "line 2: column 'capacity'"),
    ("aws,g5.xlarge,A10G,1,24,4,16,us-east-1,cheap,,\n", "line 2: column 'price_per_hour'"),
    ("aws,g5.xlarge,A10G,1,24,4,16,us-east-1,1.0,,\naws,g5.xlarge,A10G,1,24,4,16,us-east-1,1.1,,\n",
     "offer 'aws:g5.xlarge:us-east-1' is already in"),
])
def test_bad_offer_files_name_file_and_line(tmp_path, rows, words):
    path = tmp_path / "offers.csv"
    path.write_text(f"{HEADER},capacity\n{rows}")
    with pytest.raises(InputError) as raised:
        load_offer_files([path])
    assert str(path) in str(raised.value)
    assert words in str(raised.value)


def test_a_missing_offer_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_offer_files([tmp_path / "none.csv"])
