"""The operators' dashboard (/dashboard/): the GPUs local and rented with what
they run, the queues, 30 days of costs and savings, recent jobs and alerts.

Server-rendered and script-free; the page reloads itself every REFRESH_S.
Operators only (it shows cloud spend), admitted like every operator's page
(aima_web.accounts.pages). A database or broker that cannot be reached is the
503 with Retry-After the rest of the site answers (aima_web.core.faults), from
here too: the page is read whole before a byte is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from aima_web.access.roles import Capability
from aima_web.accounts import pages
from aima_web.core.error_pages import unavailable
from aima_web.core.faults import fault_for
from aima_web.dashboard.panels import gather

logger = logging.getLogger(__name__)

NEEDED = Capability.VIEW_CLOUD
REFRESH_S = 15


class Dashboard(View):
    http_method_names = ["get", "head"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return (pages.refusal(request, NEEDED, "The dashboard")
                    or super().dispatch(request, *args, **kwargs))
        except Exception as exc:
            fault = fault_for(exc)
            if fault is None:
                raise
            # Logged in full: the answer says only what the client can act on.
            logger.error("%s: the dashboard answered 503", fault, exc_info=exc)
            return unavailable(request, fault)

    def get(self, request: HttpRequest) -> HttpResponse:
        page = gather(timezone.now())
        # render() renders now, inside dispatch's guard: the menu's permission check
        # reads the database too.
        return render(request, "dashboard/index.html", {"page": page, "refresh_s": REFRESH_S})
