"""A placement decision read back from what a job stores is the decision."""

from __future__ import annotations

import json

from aima_tasks.kernel.placement import Alternative, Code, Decision, Option


def option(provider: str, price: float, **fields) -> Option:
    return Option(scope="cloud", provider=provider, gpu_model="L4", spot=False,
                  price_per_hour=price, wait_s=90.0, runtime_s=600.0, cost=price / 6,
                  runtime_source="benchmark", offer_id=f"{provider}:L4",
                  instance_type="g6.xlarge", region="eu-west-1", vram_gb=24.0, **fields)


def test_a_stored_decision_reads_back_as_itself() -> None:
    decision = Decision(
        placed=True, code=Code.CHEAPEST, reason="the cheapest", strategy="cheapest",
        vram_need_gb=12.0, min_cuda="12.0", gpu_class=24, scope="cloud", queue="gpu.cloud.24",
        choice=option("aws", 0.8), reasons=(Code.CHEAPEST, Code.NO_LOCAL_FIT),
        alternatives=(Alternative(option("runpod", 1.1, upload_s=3.0), Code.MORE_EXPENSIVE,
                                  "costs more"),),
        excluded={"vram_too_small": 2}, suggestions=("raise the budget",))
    stored = json.loads(json.dumps(decision.to_dict()))
    assert Decision.from_dict(stored) == decision


def test_an_unplaced_decision_reads_back_without_a_choice() -> None:
    decision = Decision(placed=False, code=Code.NO_FIT, reason="nothing fits",
                        strategy="cheapest", vram_need_gb=200.0, min_cuda="12.0")
    assert Decision.from_dict(decision.to_dict()) == decision
