"""A placement decision record as a readable HTML block for the admin.
Everything from the record is escaped: reasons quote host and model names."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def decision_html(record: dict[str, Any] | None, currency: str) -> SafeString:
    if not record:
        return format_html("<p>{}</p>", "Not placed yet.")
    choice = record.get("choice") or {}
    rows: list[tuple[str, str]] = [
        ("placed", "yes" if record.get("placed") else f"no ({record.get('code', '')})"),
        ("strategy", str(record.get("strategy", ""))),
        ("needs", f"{record.get('vram_need_gb', 0):g} GB VRAM, CUDA {record.get('min_cuda', '')}"),
    ]
    if record.get("placed"):
        rows += [
            ("scope / class / queue", f"{record.get('scope')} / {record.get('gpu_class')} GB / "
                                      f"{record.get('queue')}"),
            ("runs on", choice.get("label", "")),
            ("provider / offer", f"{choice.get('provider', '')} / "
                                 f"{choice.get('offer_id') or choice.get('gpu_id') or '-'}"),
            ("spot", f"yes, interruption risk {choice.get('interruption_risk', 0):.1%}"
                     if choice.get("spot") else "no"),
            ("estimate", f"starts in {duration(choice.get('wait_s'))}, runs "
                         f"{duration(choice.get('runtime_s'))} "
                         f"(from {choice.get('runtime_source', '?')}), costs "
                         f"{money(choice.get('cost'), currency)}"),
        ]
    skipped = record.get("skipped") or []
    if skipped:
        rows.append(("partial: runs without", "; ".join(
            f"{skip.get('analysis', '')} ({skip.get('why', '')})" for skip in skipped)))
    for outage in record.get("last_good_prices") or ():
        rows.append(("last good prices", last_good_prices(outage)))
    deferral = record.get("deferral")
    if deferral:  # the off-peak rule's verdict, held or not (jobs/deferral.py)
        rows.append(("off-peak deferral", str(deferral.get("reason", ""))))
    rows.append(("reason codes", ", ".join(record.get("reasons") or ()) or "-"))
    excluded = record.get("excluded") or {}
    rows.append(("excluded", ", ".join(f"{code}: {n}" for code, n in excluded.items()) or "-"))
    parts = [
        format_html("<p><strong>{}</strong></p>", record.get("reason", "")),
        format_html("<table>{}</table>", format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", rows)),
    ]
    alternatives = record.get("alternatives") or []
    if alternatives:
        parts.append(format_html(
            "<h4>Alternatives</h4><table><tr><th>option</th><th>cost</th><th>duration</th>"
            "<th>lost</th><th>why</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                 "</tr>",
                             ((alt.get("label", ""), money(alt.get("cost"), currency),
                               duration(alt.get("duration_s")), alt.get("lost", ""),
                               alt.get("why", "")) for alt in alternatives))))
    suggestions = record.get("suggestions") or []
    if suggestions:
        parts.append(format_html("<h4>Suggestions</h4><ul>{}</ul>", format_html_join(
            "", "<li>{}</li>", ((s,) for s in suggestions))))
    return format_html_join("", "{}", ((part,) for part in parts))


def last_good_prices(outage: dict[str, Any]) -> str:
    """A provider's prices used although its refresh fails, in words."""
    return (f"{outage.get('provider', '')}: prices from {outage.get('priced_at') or '?'} "
            f"(refresh failing since {outage.get('failing_since') or '?'}: "
            f"{outage.get('error', '')})")


def money(amount: Any, currency: str) -> str:
    if amount is None:
        return "-"
    return f"{amount:.4f} {currency}" if amount < 0.01 else f"{amount:.2f} {currency}"


def duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
