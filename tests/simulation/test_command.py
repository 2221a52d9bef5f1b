"""``manage.py aima_simulate``: arguments, one-line errors, table and JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

EXAMPLE = Path(__file__).resolve().parents[2] / "bench" / "simulation"
FLEET = str(EXAMPLE / "fleet.json")
OFFERS = str(EXAMPLE / "offers.csv")
TRACE = str(EXAMPLE / "trace.jsonl")

# The document's keys as the command's help and the README promise them.
DOCUMENT_KEYS = {"seed", "jobs", "idle_grace_s", "strategies", "results"}
RESULT_KEYS = {"kind", "label", "total_cost", "cost_by_provider", "placed_local", "placed_cloud",
               "refused", "violations", "violations_by_rule", "wait_p50_s", "wait_p95_s",
               "makespan_s", "idle_gpu_s", "spot_interruptions", "rework_s", "cloud_instances",
               "unfinished"}


def simulate(*args: str) -> str:
    out = io.StringIO()
    call_command("aima_simulate", *args, stdout=out)
    return out.getvalue()


def test_json_output_parses_and_has_the_documented_keys():
    document = json.loads(simulate("--trace", TRACE, "--fleet", FLEET, "--offers", OFFERS,
                                   "--strategy", "balanced", "--strategy", "cost_first",
                                   "--seed", "7", "--json"))
    assert set(document) == DOCUMENT_KEYS
    assert document["seed"] == 7
    assert document["jobs"] == 200
    assert document["idle_grace_s"] == 60
    assert document["strategies"] == ["balanced", "cost_first"]
    assert list(document["results"]) == ["balanced", "cost_first", "b1_hyperscaler",
                                         "b2_local_when_fits", "lower_bound"]
    for name, result in document["results"].items():
        assert set(result) == RESULT_KEYS, name
    assert document["results"]["balanced"]["kind"] == "strategy"
    assert document["results"]["b1_hyperscaler"]["kind"] == "baseline"
    bound = document["results"]["lower_bound"]
    assert bound["kind"] == "bound"
    assert bound["wait_p95_s"] is None


def test_the_table_lists_every_strategy_baseline_and_the_bound():
    text = simulate("--trace", TRACE, "--fleet", FLEET, "--offers", OFFERS,
                    "--idle-grace-s", "0")
    assert "idle grace 0 s" in text
    header = next(line for line in text.splitlines() if line.startswith("name "))
    assert "cost $" in header and "wait p95" in header and "violations" in header
    for name in ("balanced", "cost_first", "local_first", "provider_priority",
                 "b1_hyperscaler", "b2_local_when_fits", "lower_bound"):
        assert any(line.startswith(name + " ") for line in text.splitlines()), name
    assert "cost by provider" in text


def test_a_bad_trace_line_names_the_file_and_line(tmp_path):
    lines = (EXAMPLE / "trace.jsonl").read_text().splitlines()[:3]
    lines[2] = lines[2].replace('"media_type":"', '"media_type":"x')
    trace = tmp_path / "bad.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError) as raised:
        simulate("--trace", str(trace), "--fleet", FLEET, "--offers", OFFERS)
    message = str(raised.value)
    assert message.startswith(f"{trace}:3: field 'media_type'")
    assert "\n" not in message


@pytest.mark.parametrize("which", ["--trace", "--fleet", "--offers"])
def test_a_missing_file_is_one_line_naming_it(tmp_path, which):
    paths = {"--trace": TRACE, "--fleet": FLEET, "--offers": OFFERS}
    paths[which] = str(tmp_path / "missing")
    args = [part for option, path in paths.items() for part in (option, path)]
    with pytest.raises(CommandError) as raised:
        simulate(*args)
    assert str(tmp_path / "missing") in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_fleet_field_is_a_command_error(tmp_path):
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"gpus": [{"id": 1, "model": "RTX 4090", "vram_gb": 24,
                                           "cuda_version": "12.4",
                                           "availability_schedule": "nights"}]}))
    with pytest.raises(CommandError, match=r"gpus\[0\]: field 'availability_schedule'"):
        simulate("--trace", TRACE, "--fleet", str(fleet), "--offers", OFFERS)


def test_negative_idle_grace_is_refused():
    with pytest.raises(CommandError, match="idle-grace-s"):
        simulate("--trace", TRACE, "--fleet", FLEET, "--offers", OFFERS, "--idle-grace-s", "-1")
