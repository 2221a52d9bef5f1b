"""The usage report pages: the current month, any month as a printable page,
and any month as CSV. Operators only (they show cloud spend).

Callers are known as on every operator's page (aima_web.accounts.pages): an API
token (a script fetching the CSV), or the admin's session once it passed its
user's second factor; a caller with neither is sent to the admin's login and back.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from aima_web.access.roles import Capability
from aima_web.accounts import pages
from aima_web.usage import export
from aima_web.usage.report import BadMonth, monthly_report, parse_month

# Cost figures include cloud spend: the capability that shows it.
NEEDED = Capability.VIEW_CLOUD
TEXT = "text/plain; charset=utf-8"


class OperatorPage(pages.Admitted, View):
    needed = NEEDED
    what = "Usage reports"


def _bad(exc: BadMonth) -> HttpResponse:
    return HttpResponseBadRequest(f"month: {exc}\n", content_type=TEXT)


class CurrentMonth(OperatorPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        return _page(request, today.year, today.month)


class MonthPage(OperatorPage):
    def get(self, request: HttpRequest, period: str) -> HttpResponse:
        try:
            year, month = parse_month(period)
        except BadMonth as exc:
            return _bad(exc)
        return _page(request, year, month)


class MonthCsv(OperatorPage):
    def get(self, request: HttpRequest, period: str) -> HttpResponse:
        try:
            year, month = parse_month(period)
        except BadMonth as exc:
            return _bad(exc)
        report = monthly_report(year, month)
        response = HttpResponse(export.to_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="aima-usage-{report.label}.csv"'
        return response


def _page(request: HttpRequest, year: int, month: int) -> HttpResponse:
    report = monthly_report(year, month)
    previous = (year - 1, 12) if month == 1 else (year, month - 1)
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return render(request, "usage/report.html", {
        "report": report,
        "sections": export.sections(report),
        "previous": f"{previous[0]:04d}-{previous[1]:02d}",
        "following": f"{following[0]:04d}-{following[1]:02d}",
    })
