"""GET /metrics: Prometheus's text format, for a bearer token or, with no
token configured, for the machine itself only.

The token is settings.AIMA_METRICS_TOKEN. Behind a reverse proxy every request
comes from the proxy's address: set the token.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aima_web.core import faults
from aima_web.monitoring.collector import registry

logger = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1"})


def refusal(request: HttpRequest) -> HttpResponse | None:
    """The answer to a caller who may not read the metrics, or None."""
    token = settings.AIMA_METRICS_TOKEN
    if not token:
        if request.META.get("REMOTE_ADDR") in LOOPBACK:
            return None
        return HttpResponse("metrics are served to this machine only; set AIMA_METRICS_TOKEN "
                            "and send it as a bearer token\n", status=403,
                            content_type="text/plain")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return HttpResponse("send the metrics token: Authorization: Bearer <token>\n",
                            status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HttpResponse("wrong metrics token\n", status=403, content_type="text/plain")
    return None


class MetricsView(View):
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        try:
            body = generate_latest(registry())
        except (OperationalError, InterfaceError) as exc:
            fault = faults.fault_for(exc) or "the database is unavailable"
            logger.error("%s: /metrics answered 503", fault, exc_info=exc)
            return HttpResponse(faults.detail(fault) + "\n", status=503,
                                content_type="text/plain",
                                headers={"Retry-After": str(faults.RETRY_AFTER_S)})
        return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
