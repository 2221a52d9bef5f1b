"""A monthly usage report as CSV, and as the sections the printable page shows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from aima_web.usage.report import MonthlyReport, Row

HEADER = ["section", "name", "jobs", "gpu_hours", "utilisation_pct", "cost",
          "cost_per_job", "cost_per_gpu_hour", "savings", "currency", "note"]
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: list[Row]


def sections(report: MonthlyReport) -> list[Section]:
    return [Section("gpu", "Local GPUs", report.gpus),
            Section("provider", "Providers", report.providers),
            Section("user", "Users", report.users),
            Section("analysis", "Analyses", report.analyses)]


def _number(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(report: MonthlyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for section in sections(report):
        for row in section.rows:
            writer.writerow([section.key, _text(row.name), row.jobs, _number(row.gpu_hours),
                             _number(row.utilisation_pct, 2), _number(row.cost),
                             _number(row.cost_per_job), _number(row.cost_per_gpu_hour),
                             _number(row.savings), report.currency, ""])
    totals = [("local_energy", report.local_energy),
              ("local_depreciation", report.local_depreciation),
              ("cloud", report.cloud), ("savings", report.savings), ("total", report.total)]
    for name, amount in totals:
        writer.writerow(["total", name, "", "", "", _number(amount), "", "", "",
                         report.currency, ""])
    for suggestion in report.suggestions:
        writer.writerow(["suggestion", _text(suggestion.subject), "", "", "", "", "", "", "",
                         "", _text(suggestion.text)])
    return out.getvalue()
