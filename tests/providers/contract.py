"""The provider contract: what every provider does the same way, whatever its
vendor, checked by ``test_contract.py`` through one ``Harness`` per provider.

A harness stands at the vendor's edge (a fake of its HTTP API, moto for AWS,
the local processes of the subprocess provider) and can make the vendor
misbehave the ways the contract cares about:

- ``fail_next(kind)``: the next vendor call that can fail that way fails as
  that vendor reports it (kind: quota, capacity, auth or transient);
- ``hide_new_instances(n)``: instances created from now on are missing from
  the n listings after their creation (SkyPilot's leak rules: a just-created
  instance may be invisible for a moment, and must not be forgotten for it).

Harnesses live in ``harnesses.py``; a provider added later (GCP, Azure) adds
its own there and is checked by the same tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from providers.base import (
    INSTANCE_TAG,
    AuthError,
    CapacityError,
    Instance,
    LaunchSpec,
    Offer,
    Provider,
    ProviderError,
    QuotaError,
    TransientError,
)

KINDS = ("quota", "capacity", "auth", "transient")
ERRORS: Mapping[str, type[ProviderError]] = {
    "quota": QuotaError, "capacity": CapacityError, "auth": AuthError,
    "transient": TransientError}


class Harness(Protocol):
    """One provider under test with its vendor's edge in reach."""

    # The error kinds this vendor's edge can be made to report.
    kinds: tuple[str, ...]
    # Whether hide_new_instances takes effect: False for a provider whose
    # listing cannot lag (the subprocess provider reads its own records).
    hides: bool
    # Whether fail_next fails one call only (a vendor fault) rather than every
    # launch until the harness is made again (the subprocess provider's setting).
    fails_once: bool

    @property
    def provider(self) -> Provider: ...

    def fail_next(self, kind: str) -> None: ...

    def hide_new_instances(self, listings: int) -> None: ...

    def spec(self, instance_tag: str) -> LaunchSpec:
        """A launch spec carrying ``INSTANCE_TAG: instance_tag`` and this test
        deployment's tag."""
        ...

    def offer(self) -> Offer:
        """An offer that can be launched now."""
        ...

    def unknown_id(self) -> str:
        """An instance id of this provider's form that names no instance."""
        ...


def list_until_found(provider: Provider, instance_tag: str,
                     listings: int) -> tuple[list[Instance], int]:
    """List by ``INSTANCE_TAG`` until something carries it, at most ``listings``
    times, as the lifecycle does: a listing that misses a just-created
    instance is asked again, never taken as the instance's end. Returns what
    was found and how many listings it took."""
    for done in range(1, listings + 1):
        found = provider.list_instances({INSTANCE_TAG: instance_tag})
        if found:
            return found, done
    return [], listings
