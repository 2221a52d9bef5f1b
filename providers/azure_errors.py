"""What azure-core, azure-identity and ARM answer, as the provider errors of
``providers.errors``.

ARM's error codes (``error.code`` of the body, which azure-core reads with its
ARM error format) say more than HTTP statuses: a 409 is a quota, a capacity or
a state refusal depending on the code. Sources: "Resolve errors for SKU not
available", "Allocation failure" and "Common Azure deployment errors" on
learn.microsoft.com (azure-resource-manager/troubleshooting, virtual-machines/
troubleshooting).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from providers import errors

QUOTA_CODES = frozenset({"QuotaExceeded", "ResourceQuotaExceeded"})
CAPACITY_CODES = frozenset({
    "SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed",
    "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest",
})
AUTH_CODES = frozenset({"AuthorizationFailed", "AuthenticationFailed",
                        "InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant",
                        "ExpiredAuthenticationToken", "LinkedAuthorizationFailed",
                        "SubscriptionNotFound", "InvalidSubscriptionId"})
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "NotFound"})
TRANSIENT_CODES = frozenset({"TooManyRequests", "RetryableError", "InternalServerError",
                             "InternalExecutionError", "ServiceUnavailable", "GatewayTimeout",
                             "OperationPreempted"})
# OperationNotAllowed is Compute's code for a quota ("... results in exceeding
# approved standardNCASv3_T4Family Cores quota") and for a refused state change.
QUOTA_WORDS = re.compile(r"quota|exceeding approved", re.I)


@contextmanager
def calling(operation: str) -> Iterator[None]:
    """Turns whatever the Azure SDK raises while doing ``operation`` into a
    provider error; the SDK's exception is dropped, with its request, headers
    and the bearer token the request carried."""
    try:
        yield
    except errors.ProviderError:
        raise
    except Exception as exc:  # every SDK failure becomes a typed ProviderError
        raise mapped(exc, operation) from None


def mapped(exc: Exception, operation: str) -> errors.ProviderError:
    if isinstance(exc, CredentialUnavailableError):
        return errors.AuthError(f"Azure {operation}: no usable credentials: set "
                                f"AIMA_AZURE_TENANT_ID, _CLIENT_ID and _CLIENT_SECRET, or run "
                                f"where DefaultAzureCredential finds some")
    if isinstance(exc, HttpResponseError):
        return response_error(exc, operation)
    if isinstance(exc, ClientAuthenticationError):
        # azure-identity's: the token endpoint refused the service principal.
        return errors.AuthError(f"Azure {operation}: sign-in refused: {_first_line(exc)}")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return errors.TransientError(f"Azure {operation}: {type(exc).__name__}: "
                                     f"{_first_line(exc)}")
    if isinstance(exc, AzureError):
        return errors.ProviderError(f"Azure {operation}: {type(exc).__name__}: "
                                    f"{_first_line(exc)}")
    return errors.ProviderError(f"Azure {operation}: {type(exc).__name__}: {exc}")


def response_error(exc: HttpResponseError, operation: str) -> errors.ProviderError:
    status = int(exc.status_code or 0)
    code = str(getattr(exc.error, "code", "") or "") if exc.error is not None else ""
    message = str(getattr(exc.error, "message", "") or "") if exc.error is not None else ""
    text = f"Azure {operation}: {status} {code or exc.reason or ''}: {message[:300]}".rstrip(": ")
    if isinstance(exc, ClientAuthenticationError) or code in AUTH_CODES or status in (401, 403):
        return errors.AuthError(f"Azure {operation} refused ({status} {code}): check the "
                                f"service principal and its role on the resource group")
    if code in QUOTA_CODES or (code == "OperationNotAllowed" and QUOTA_WORDS.search(message)):
        return errors.QuotaError(text)
    if code in CAPACITY_CODES:
        return errors.CapacityError(text)
    if isinstance(exc, ResourceNotFoundError) and code not in ("ResourceGroupNotFound",):
        return errors.NotFoundError(text)
    if code in NOT_FOUND_CODES:
        return errors.NotFoundError(text)
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return errors.TransientError(text)
    return errors.ProviderError(text)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
