"""``/flower/``: Flower behind the control plane's login, for operators.

Flower listens on the loopback only (``settings.AIMA_FLOWER_URL``, by default
http://127.0.0.1:5555, started with ``--url_prefix=flower``) and has no login of
its own: this view is the way in. It passes GET and HEAD through (Flower's pages
and its API; Flower's task controls, which POST, stay shut) and streams the
answer back. Nothing of the caller's (cookies, credentials) reaches Flower.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views import View

from aima_web.access.roles import Capability
from aima_web.accounts import pages

# Flower sees every worker, agent host and job: the operators' view of the fleet.
CAPABILITY = Capability.VIEW_GPU_DETAILS
CHUNK = 64 * 1024
TIMEOUT_S = 10
# Flower's workers page says in an inline script whether it refreshes itself.
INLINE_SCRIPT = re.compile(rb"<script[^>]*>(.*?)</script>", re.DOTALL)
FLOWER_SCRIPT = re.compile(rb"\s*var autorefresh = [01];\s*")
# What of Flower's answer the caller gets; hop-by-hop headers stay behind.
PASSED_HEADERS = ("Content-Type", "Content-Length", "Cache-Control", "Etag", "Last-Modified")


class FlowerProxy(View):
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, path: str = "") -> HttpResponseBase:
        refused = pages.refusal(request, CAPABILITY, "Flower's pages")
        if refused is not None:
            return refused
        upstream = urllib.request.Request(
            # GET for HEAD too (Flower's handlers answer GET only); the body is
            # dropped for a HEAD on the way out.
            settings.AIMA_FLOWER_URL + request.get_full_path(), method="GET",
            headers={"Accept": request.headers.get("Accept", "*/*")})
        try:
            answer = urllib.request.urlopen(upstream, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            answer = exc  # Flower's own 4xx/5xx, passed on with its body
        except (urllib.error.URLError, OSError):
            return HttpResponse("Flower is not running.", status=503, content_type="text/plain",
                                headers={"Retry-After": "10"})
        if answer.headers.get_content_type() == "text/html":
            response = flower_page(answer)
        else:
            response = StreamingHttpResponse(chunks(answer), status=answer.status)
        for name in PASSED_HEADERS:
            if answer.headers.get(name):
                response[name] = answer.headers[name]
        return response


def flower_page(answer) -> HttpResponse:
    """One of Flower's pages, with the inline script Flower itself writes (its
    auto-refresh switch) let through the site's CSP by its hash: every other
    inline script stays blocked, so a worker name an agent chose cannot run."""
    with answer:
        page = answer.read()
    response = HttpResponse(page, status=answer.status)
    allowed = sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(page) if FLOWER_SCRIPT.fullmatch(script)})
    if allowed:
        response._csp_update = {"script-src": allowed}
    return response


def chunks(answer) -> Iterator[bytes]:
    try:
        while chunk := answer.read(CHUNK):
            yield chunk
    finally:
        answer.close()
