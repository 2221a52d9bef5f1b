"""Django's own error answers (no URL matched, an unhandled error) as JSON under
/api/, the way DRF answers inside its views, so that API clients and the schema
(aima_web.core.schema) see one error format; HTML pages everywhere else.

An unhandled fault (aima_web.core.faults) outside DRF's views, say a database gone
during the admin login, is the 503 with Retry-After that DRF's views answer, not a 500.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from aima_web.core.faults import RETRY_AFTER_S, detail, fault_for

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception: it is the one in flight.
    fault = fault_for(sys.exc_info()[1])
    if fault is not None:
        return unavailable(request, fault)
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "A server error occurred."}, status=500)
    return defaults.server_error(request)


def unavailable(request: HttpRequest, fault: str) -> HttpResponse:
    response = (JsonResponse({"detail": detail(fault)}, status=503)
                if request.path.startswith(API_PREFIX)
                else HttpResponse(f"Service unavailable: {detail(fault)}.\n", status=503,
                                  content_type="text/plain; charset=utf-8"))
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response
