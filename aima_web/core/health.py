"""``GET /healthz``: whether this web process can serve, for container health
checks, load balancers and Kubernetes probes.

It answers before any other middleware, so a probe needs neither a host name of
``AIMA_ALLOWED_HOSTS`` (a kubelet asks by the pod's address) nor HTTPS (the
proxy's checks reach gunicorn directly): it reveals nothing but whether the
database answers. Every other path goes on through the whole stack.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from aima_web.core.faults import RETRY_AFTER_S, fault_for

PATH = "/healthz"


def health() -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        fault = fault_for(exc)
        if fault is None:  # not an outage but a bug: the 500 it is everywhere else
            raise
        answer = JsonResponse({"status": "unavailable", "detail": fault}, status=503)
        answer["Retry-After"] = str(RETRY_AFTER_S)
        return answer
    return JsonResponse({"status": "ok"})


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == PATH and request.method in ("GET", "HEAD"):
            answer = health()
            answer["Cache-Control"] = "no-store"
            return answer
        return self.get_response(request)
