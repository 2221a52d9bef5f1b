"""A comparison as a plain aligned table, or as one JSON document.

JSON document keys:
    seed, jobs, idle_grace_s, strategies (names replayed through the engine),
    results: {name: {kind ("strategy" | "baseline" | "bound"), label,
        total_cost, cost_by_provider {provider | "local": cost},
        placed_local, placed_cloud, refused, violations,
        violations_by_rule {rule: count}, wait_p50_s, wait_p95_s, makespan_s,
        idle_gpu_s, spot_interruptions, rework_s, cloud_instances, unfinished}}
Costs are in the offers' currency (USD), times in seconds; the lower bound has
null for every time measure. With ``--what-if`` the document also has
``what_if`` (see ``what_if_json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aima_tasks.kernel.simulation.compare import Comparison
from aima_tasks.kernel.simulation.outcome import Outcome
from aima_tasks.kernel.simulation.replay import LOCAL
from aima_tasks.kernel.simulation.whatif import WhatIf

RESULT_KEYS = ("kind", "label", "total_cost", "cost_by_provider", "placed_local", "placed_cloud",
               "refused", "violations", "violations_by_rule", "wait_p50_s", "wait_p95_s",
               "makespan_s", "idle_gpu_s", "spot_interruptions", "rework_s", "cloud_instances",
               "unfinished")
DOCUMENT_KEYS = ("seed", "jobs", "idle_grace_s", "strategies", "results")


def to_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "seed": comparison.seed,
        "jobs": comparison.jobs,
        "idle_grace_s": comparison.idle_grace_s,
        "strategies": [str(s) for s in comparison.strategies],
        "results": {o.name: _result(o) for o in comparison.outcomes},
    }


def _result(outcome: Outcome) -> dict[str, Any]:
    # Rounded so that a document reads well and compares equal across runs.
    return {
        "kind": str(outcome.kind),
        "label": outcome.label,
        "total_cost": round(outcome.total_cost, 6),
        "cost_by_provider": {p: round(c, 6) for p, c in outcome.cost_by_provider.items()},
        "placed_local": outcome.placed_local,
        "placed_cloud": outcome.placed_cloud,
        "refused": outcome.refused,
        "violations": outcome.violations,
        "violations_by_rule": dict(outcome.violations_by_rule),
        "wait_p50_s": _seconds(outcome.wait_p50_s),
        "wait_p95_s": _seconds(outcome.wait_p95_s),
        "makespan_s": _seconds(outcome.makespan_s),
        "idle_gpu_s": _seconds(outcome.idle_gpu_s),
        "spot_interruptions": outcome.spot_interruptions,
        "rework_s": _seconds(outcome.rework_s),
        "cloud_instances": outcome.cloud_instances,
        "unfinished": outcome.unfinished,
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# ---------------------------------------------------------------- table

_COLUMNS = ("name", "cost $", "local", "cloud", "refused", "violations", "wait p50", "wait p95",
            "makespan", "idle GPU-s", "interrupts", "rework")


def table(comparison: Comparison) -> str:
    outcomes = comparison.outcomes
    rows = [_COLUMNS] + [_row(o) for o in outcomes]
    lines = [f"{comparison.jobs} jobs, seed {comparison.seed}, idle grace "
             f"{comparison.idle_grace_s:g} s", ""]
    lines += _aligned(rows)
    lines += ["", "cost by provider ($)", ""]
    lines += _aligned(_provider_rows(outcomes))
    lines += [""] + [f"{o.name}: {o.label}" for o in outcomes]
    violated = [o for o in outcomes if o.violations_by_rule]
    if violated:
        lines += ["", "rule violations"]
        for outcome in violated:
            found = ", ".join(f"{rule} {n}" for rule, n in outcome.violations_by_rule.items())
            lines.append(f"{outcome.name}: {found}")
    return "\n".join(lines)


def _row(o: Outcome) -> tuple[str, ...]:
    return (o.name, f"{o.total_cost:.2f}", str(o.placed_local), str(o.placed_cloud),
            str(o.refused), str(o.violations), _duration(o.wait_p50_s), _duration(o.wait_p95_s),
            _duration(o.makespan_s), "-" if o.idle_gpu_s is None else f"{o.idle_gpu_s:.0f}",
            "-" if o.spot_interruptions is None else str(o.spot_interruptions),
            _duration(o.rework_s))


def _provider_rows(outcomes: Sequence[Outcome]) -> list[tuple[str, ...]]:
    providers = sorted({p for o in outcomes for p in o.cost_by_provider},
                       key=lambda p: (p != LOCAL, p))
    rows: list[tuple[str, ...]] = [("name", *providers)]
    for o in outcomes:
        rows.append((o.name, *(f"{o.cost_by_provider[p]:.2f}" if p in o.cost_by_provider
                               else "-" for p in providers)))
    return rows


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# ---------------------------------------------------------------- what if

WHAT_IF_KEYS = ("strategy", "lower_bound", "variants", "verdicts")
VARIANT_KEYS = (*RESULT_KEYS, "cost_vs_bound", "cloud_wait_p95_s", "local_idle_gpu_s",
                "past_deadline", "deferred", "rescued", "pauses", "resumes", "warm_launches")
_WHAT_IF_COLUMNS = ("variant", "cost $", "x bound", "local", "cloud", "wait p50", "wait p95",
                    "cloud wait p95", "idle GPU-h", "local idle GPU-h", "past deadline",
                    "deferred", "rescued", "paused", "resumed", "warm")


def what_if_json(result: WhatIf) -> dict[str, Any]:
    """``what_if``: strategy, lower_bound (its cost), variants {name: every result key
    plus cost_vs_bound, cloud_wait_p95_s, local_idle_gpu_s, past_deadline,
    deferred, rescued, pauses, resumes, warm_launches}, verdicts {variant:
    {off-peak verdict code: count}}."""
    bound = result.bound.total_cost
    return {
        "strategy": str(result.strategy),
        "lower_bound": round(bound, 6),
        "variants": {o.name: {**_result(o),
                              "cost_vs_bound": round(o.total_cost / bound, 6) if bound else None,
                              "cloud_wait_p95_s": _seconds(o.cloud_wait_p95_s),
                              "local_idle_gpu_s": _seconds(o.local_idle_gpu_s),
                              "past_deadline": o.past_deadline, "deferred": o.deferred,
                              "rescued": o.rescued, "pauses": o.pauses, "resumes": o.resumes,
                              "warm_launches": o.warm_launches}
                     for o in result.outcomes},
        "verdicts": {name: dict(counts) for name, counts in result.verdicts.items()},
    }


def what_if_table(result: WhatIf) -> str:
    bound = result.bound.total_cost
    rows: list[tuple[str, ...]] = [_WHAT_IF_COLUMNS]
    for o in result.outcomes:
        rows.append((o.name, f"{o.total_cost:.2f}",
                     f"{o.total_cost / bound:.3f}" if bound else "-", str(o.placed_local),
                     str(o.placed_cloud), _duration(o.wait_p50_s), _duration(o.wait_p95_s),
                     _duration(o.cloud_wait_p95_s), f"{(o.idle_gpu_s or 0.0) / 3600:.1f}",
                     f"{(o.local_idle_gpu_s or 0.0) / 3600:.0f}",
                     *(str(n) for n in (o.past_deadline, o.deferred, o.rescued, o.pauses,
                                        o.resumes, o.warm_launches))))
    rows.append(("lower_bound", f"{bound:.2f}", "1.000", str(result.bound.placed_local),
                 str(result.bound.placed_cloud), *("-",) * 11))
    lines = [f"what if ({result.strategy}): today's behaviour, then each option, then all", ""]
    lines += _aligned(rows)
    lines += [""] + [f"{o.name}: {o.label}" for o in result.outcomes]
    for name, counts in result.verdicts.items():
        lines.append(f"{name} off-peak verdicts: "
                     + ", ".join(f"{code} {n}" for code, n in counts.items()))
    return "\n".join(lines)
