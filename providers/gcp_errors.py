"""What the Google Cloud SDK raises, and what a Compute Engine operation ends
with, as the provider errors of ``providers.errors``.

Compute Engine answers a refused call at once (HTTP status, and a ``reason``
per error: ``quotaExceeded``, ``notFound``, ``rateLimitExceeded``), and an
accepted one that fails later in its operation (an error ``code`` per error:
``ZONE_RESOURCE_POOL_EXHAUSTED``, ``QUOTA_EXCEEDED``, with an HTTP status of
its own). The reasons and codes decide before the status does: an exhausted
zone comes with a 503 and is no outage, a rate limit comes with a 403 and is
no missing permission. Sources of the wordings: tests/providers/fake_gcp.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from google.api_core import exceptions as core
from google.auth import exceptions as auth_exceptions

from providers import errors

CAPACITY_CODES = frozenset({
    "ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    "REGION_RESOURCE_POOL_EXHAUSTED", "resourcePoolExhausted"})
QUOTA_CODES = frozenset({"QUOTA_EXCEEDED", "quotaExceeded", "limitExceeded",
                         "dailyLimitExceeded", "billingNotEnabled", "accountDisabled"})
# Per-minute API limits and server faults: the same call goes through later.
TRANSIENT_CODES = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError",
                        "RESOURCE_OPERATION_RATE_EXCEEDED", "internalError",
                             # Busy with another operation (a delete under way): try again.
                             "resourceNotReady"})
NOT_FOUND_CODES = frozenset({"notFound", "RESOURCE_NOT_FOUND"})
AUTH_CODES = frozenset({"forbidden", "insufficientPermissions", "accessNotConfigured",
                        "authError", "SERVICE_DISABLED", "IAM_PERMISSION_DENIED"})
_CAPACITY_TEXT = re.compile(r"does not have enough resources|resource pool exhausted", re.I)
_QUOTA_TEXT = re.compile(r"quota .*exceeded", re.I)
_SECRET = re.compile(r"((?:[?&]key=)|(?:access_token=))[^&\s'\"]+")


@contextmanager
def calling(action: str) -> Iterator[None]:
    """Turns whatever the SDK or the network raises into a typed ProviderError.
    The cause is dropped: the SDK's messages carry request URLs."""
    try:
        yield
    except errors.ProviderError:
        raise
    except Exception as problem:  # every SDK failure becomes a typed ProviderError
        raise map_error(problem, action) from None


def map_error(problem: Exception, action: str) -> errors.ProviderError:
    if isinstance(problem, errors.ProviderError):
        return problem
    if isinstance(problem, core.GoogleAPICallError):
        return classify(problem.code or 0, _codes(problem.errors, problem.reason),
                        problem.message or "", action)
    if isinstance(problem, core.RetryError | requests.RequestException
                  | auth_exceptions.TransportError | ConnectionError | TimeoutError):
        return errors.TransientError(f"gcp {action}: could not reach the API "
                                     f"({type(problem).__name__})")
    if isinstance(problem, auth_exceptions.RefreshError | auth_exceptions.DefaultCredentialsError):
        return errors.AuthError(f"gcp {action}: the credentials were refused "
                                f"({type(problem).__name__})")
    return errors.ProviderError(scrub(f"gcp {action}: {type(problem).__name__}: {problem}"))


def operation_error(operation: Any, action: str) -> errors.ProviderError:
    """The error a finished operation ended with (its ``error.errors``)."""
    found = list(operation.error.errors)
    message = "; ".join(f"{e.code}: {e.message}" for e in found) or \
        operation.http_error_message or "failed"
    return classify(operation.http_error_status_code or 0, _codes(found, None), message,
                    action)


def classify(status: int, codes: set[str], message: str,
             action: str) -> errors.ProviderError:
    text = scrub(f"gcp {action}: {message}")
    if codes & CAPACITY_CODES or _CAPACITY_TEXT.search(message):
        return errors.CapacityError(text)
    if codes & QUOTA_CODES or _QUOTA_TEXT.search(message):
        return errors.QuotaError(text)
    if codes & TRANSIENT_CODES or status == 429 or status >= 500:
        return errors.TransientError(text)
    if codes & NOT_FOUND_CODES or status == 404:
        return errors.NotFoundError(text)
    if codes & AUTH_CODES or status in (401, 403):
        return errors.AuthError(text)
    return errors.ProviderError(text)


def _codes(found: Iterable[Any] | None, reason: str | None) -> set[str]:
    """The reasons (HTTP answers: dicts) and codes (operations: messages) named."""
    codes = {reason} if reason else set()
    for item in found or []:
        if isinstance(item, dict):
            codes.update(str(item[key]) for key in ("reason", "code") if item.get(key))
        elif getattr(item, "code", ""):
            codes.add(str(item.code))
    return codes


def scrub(text: str) -> str:
    # from_http_response quotes the request URL, where an API key travels.
    return _SECRET.sub(r"\1••••", text)
