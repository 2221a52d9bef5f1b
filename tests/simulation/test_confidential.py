"""Confidential jobs queue, never bounce (seeds 003 §1.3, 002 §2): the replay
audits every refusal, and no engine strategy refuses a confidential job that a
local GPU could take, on the example trace nor on a month-long one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.core.management import call_command

from aima_tasks.kernel.classification import GpuStatus
from aima_tasks.kernel.placement import Policy, Strategy
from aima_tasks.kernel.simulation import compare
from aima_tasks.kernel.simulation.inputs import TraceJob
from aima_tasks.kernel.simulation.offers import OfferFile
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.placing import Placement, ReplayView
from aima_tasks.kernel.simulation.replay import replay

from .scenario import MONDAY, book, fleet, job, offer
from .test_replay import local_gpu

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "bench" / "simulation"
# The month-long trace of bench/simulation/README.md: about 470 confidential
# jobs among 4,000 over 31 days, on the example's five-GPU fleet.
MONTH = ("--jobs", "4000", "--per-day", "133", "--seed", "14")
ENGINE = [s.value for s in Strategy]


def simulate(trace: Path) -> dict:
    out = io.StringIO()
    call_command("aima_simulate", "--trace", str(trace), "--fleet", str(EXAMPLE / "fleet.json"),
                 "--offers", str(EXAMPLE / "offers.csv"), "--json", stdout=out)
    return json.loads(out.getvalue())


def confidential_jobs(trace: Path) -> int:
    lines = trace.read_text().splitlines()
    return sum(json.loads(line).get("confidentiality") == "confidential" for line in lines)


def assert_none_bounced(document: dict) -> None:
    for name in ENGINE:
        result = document["results"][name]
        assert "confidential_refused" not in result["violations_by_rule"], (name, result)
        assert result["violations"] == 0, (name, result["violations_by_rule"])
        assert result["unfinished"] == 0, name


def test_the_example_trace_refuses_no_confidential_job_a_local_gpu_could_take():
    assert_none_bounced(simulate(EXAMPLE / "trace.jsonl"))


def test_a_month_long_trace_refuses_no_confidential_job_a_local_gpu_could_take(tmp_path):
    trace = tmp_path / "month.jsonl"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_trace.py"), *MONTH,
                    "--out", str(trace)], check=True, capture_output=True)
    secret = confidential_jobs(trace)
    assert secret > 400
    document = simulate(trace)
    assert_none_bounced(document)
    refused = {name: document["results"][name]["refused"] for name in ENGINE}
    print(f"month-long trace: {secret} confidential of {document['jobs']} jobs; "
          f"refused by strategy {refused}")


class Refuser:
    name, label, kind = "refuser", "refuses every job", Kind.STRATEGY

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        return None


def test_refusing_a_confidential_job_a_local_gpu_could_take_is_a_violation():
    secret = job("secret", MONDAY, confidentiality="confidential")
    plain = job("plain", MONDAY + timedelta(seconds=1))
    fits = replay([secret, plain], fleet(local_gpu()), book(), Refuser())
    assert fits.refused == 2 and fits.violations_by_rule == {"confidential_refused": 1}
    # A GPU that is too small, away or reserved for others makes the refusal lawful.
    for gpu in (local_gpu(vram_gb=4.0), local_gpu(status=GpuStatus.MAINTENANCE),
                local_gpu(access_groups=frozenset({"research"}))):
        assert replay([secret], fleet(gpu), book(), Refuser()).violations == 0, gpu


def test_the_engine_queues_a_confidential_job_far_beyond_the_maximum_local_wait():
    busy = job("busy", MONDAY, media="video", duration=4 * 3600, analyses=("shots",))
    secret = job("secret", MONDAY + timedelta(seconds=1), confidentiality="confidential")
    tight = fleet(local_gpu(), policy=Policy(max_local_wait_s=60.0))
    offers = OfferFile(offers=(offer(),), capacity={})
    outcomes = {o.name: o for o in compare([busy, secret], tight, offers).outcomes}
    for name in ENGINE:
        assert outcomes[name].refused == 0 and outcomes[name].violations == 0, name
        assert outcomes[name].placed_local >= 1, name
