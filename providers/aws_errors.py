"""boto3's exceptions and EC2's error codes, as the provider errors of
``providers.errors``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from providers import errors

CAPACITY_CODES = frozenset({
    "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientCapacity",
    "InsufficientReservedInstanceCapacity", "InsufficientCapacityOnHost",
    # The spot price rose above the bid: no capacity at this price.
    "SpotMaxPriceTooLow",
    # The type is not (or no longer) offered in the zone: another offer may be.
    "Unsupported",
})
QUOTA_CODES = frozenset({
    "InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded",
    "MaxSpotFleetRequestCountExceeded", "ResourceLimitExceeded", "PendingVerification",
})
AUTH_CODES = frozenset({
    "UnauthorizedOperation", "AuthFailure", "Blocked", "OptInRequired",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
    "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
})
TRANSIENT_CODES = frozenset({
    "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled",
    "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
    "RequestTimeout", "RequestTimeoutException",
    # Pending, stopping: the same call succeeds once the instance gets there.
    "IncorrectInstanceState",
})
NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
NOT_SUPPORTED_CODES = frozenset({"UnsupportedOperation"})
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError,
                     ProfileNotFound)


@contextmanager
def calling(operation: str) -> Iterator[None]:
    """Turns boto3's exceptions into the provider errors of ``providers.errors``."""
    try:
        yield
    except ClientError as exc:
        raise client_error(exc) from None
    except CREDENTIAL_ERRORS as exc:
        raise errors.AuthError(f"AWS {operation}: no usable credentials "
                             f"({type(exc).__name__}); set AWS_ACCESS_KEY_ID/"
                             f"AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from None
    except (ConnectionError, HTTPClientError) as exc:
        raise errors.TransientError(f"AWS {operation}: {type(exc).__name__}: {exc}") from None
    except BotoCoreError as exc:
        raise errors.ProviderError(f"AWS {operation}: {type(exc).__name__}: {exc}") from None


def client_error(exc: ClientError) -> errors.ProviderError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = exc.operation_name or "call"
    if code in AUTH_CODES:
        # AWS's own message may quote the request or an encoded policy; the code
        # says what went wrong without either.
        return errors.AuthError(f"AWS {operation} refused: {code}: check the credentials and "
                              f"the IAM permissions of the AWS identity")
    message = f"AWS {operation} failed: {code}: {str(error.get('Message', ''))[:300]}"
    if code in CAPACITY_CODES:
        return errors.CapacityError(message)
    if code in QUOTA_CODES:
        return errors.QuotaError(message)
    if code in NOT_FOUND_CODES:
        return errors.NotFoundError(message)
    if code in NOT_SUPPORTED_CODES:
        return errors.NotSupportedError(message)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return errors.TransientError(message)
    return errors.ProviderError(message)
