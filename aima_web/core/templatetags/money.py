"""``{{ amount|money }}``: an amount as AIMA's pages show it. Cents for anything of a
cent or more; a smaller amount (a few seconds on a local GPU) to four decimals, so
that it reads as what it cost rather than as nothing."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def money(amount: float | Decimal | None) -> str:
    if amount is None:
        return "-"
    value = float(amount)
    if value == 0 or abs(value) >= 0.005:
        return f"{value:,.2f}"
    return f"{value:.4f}"
