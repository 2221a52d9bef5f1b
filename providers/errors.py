"""What a provider raises: one class per way a call can fail, so that callers
decide by kind (another offer, back off, give up) and never by a vendor's
wording."""

from __future__ import annotations


class ProviderError(Exception):
    """Something a provider refused or failed to do; ``retryable`` says whether
    the same call may succeed later."""

    retryable = False


class CapacityError(ProviderError):
    """No machine of that offer is free now: try another offer or provider."""


class QuotaError(ProviderError):
    """An account limit or a spending limit at the provider."""


class AuthError(ProviderError):
    """Missing or rejected credentials."""


class TransientError(ProviderError):
    """A timeout, a 5xx, a rate limit: worth retrying with backoff."""

    retryable = True


class NotFoundError(ProviderError):
    """No such instance (any more)."""


class NotSupportedError(ProviderError):
    """The provider cannot do this (e.g. pause and resume)."""
