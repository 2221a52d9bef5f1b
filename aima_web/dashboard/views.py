"""The operators' dashboard (/dashboard/): the GPUs local and rented with what
they run, the queues, 30 days of costs and savings, recent jobs and alerts.

Server-rendered and script-free; the page reloads itself every REFRESH_S.
Operators only (it shows cloud spend), admitted like every operator's page
(aima_web.accounts.pages). A database or broker that cannot be reached is the
503 with Retry-After the rest of the site answers (aima_web.core.error_pages): the
page is rendered whole before a byte is sent, so a fault never cuts it off midway.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from aima_web.access.roles import Capability
from aima_web.accounts import pages
from aima_web.dashboard.panels import gather

REFRESH_S = 15


class Dashboard(pages.Admitted, View):
    needed = Capability.VIEW_CLOUD
    what = "The dashboard"

    def get(self, request: HttpRequest) -> HttpResponse:
        page = gather(timezone.now())
        return render(request, "dashboard/index.html", {"page": page, "refresh_s": REFRESH_S})
