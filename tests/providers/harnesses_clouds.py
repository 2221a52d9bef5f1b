"""The contract's harnesses for GCP and Azure, on the fakes of their APIs
(``fake_gcp.py``, ``fake_azure.py``), beside ``harnesses.py``'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from providers.base import LaunchSpec, Offer
from tests.providers import fake_azure, fake_gcp
from tests.providers.harnesses import cheapest, launch_spec

# ---------------------------------------------------------------- GCP

# Compute Engine's answers to a refused insert (fake_gcp.py names the sources).
# An exhausted zone usually fails the insert's operation; gcloud also shows it
# as the call's own 503 "Could not fetch resource", which is the one-call form.
GCP_FAULTS = {
    "quota": (403, "quotaExceeded",
              "Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region us-central1."),
    "capacity": (503, "ZONE_RESOURCE_POOL_EXHAUSTED",
                 "The zone 'projects/aima-test/zones/us-central1-a' does not have enough "
                 "resources available to fulfill the request.  Try a different zone, or try "
                 "again later."),
    "auth": (401, "authError", "Request had invalid authentication credentials."),
    "transient": (500, "backendError", "Internal error. Please try again."),
}


class GcpHarness:
    kinds = ("quota", "capacity", "auth", "transient")
    hides = True
    fails_once = True

    def __init__(self, fake: fake_gcp.FakeGcp):
        self.fake = fake
        self.provider = fake_gcp.gcp_provider(fake)

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(*GCP_FAULTS[kind])

    def hide_new_instances(self, listings: int) -> None:
        self.fake.hide_new_instances(listings)

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag)

    def offer(self) -> Offer:
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "us-central1-a/aima-no-such-vm"


@contextmanager
def gcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcpHarness]:
    with fake_gcp.FakeGcp() as fake:
        yield GcpHarness(fake)


# ---------------------------------------------------------------- Azure


class AzureHarness:
    kinds = ("quota", "capacity", "auth", "transient")
    hides = True
    fails_once = True

    def __init__(self, fake: fake_azure.FakeAzure):
        self.fake = fake
        self.provider = fake_azure.azure_provider(fake)

    def fail_next(self, kind: str) -> None:
        # ARM's codes for each kind, as fake_azure.KINDS documents them.
        self.fake.fail_next_kind(kind)

    def hide_new_instances(self, listings: int) -> None:
        self.fake.hide_new_instances(listings)

    def spec(self, instance_tag: str) -> LaunchSpec:
        return launch_spec(instance_tag)

    def offer(self) -> Offer:
        return cheapest(self.provider)

    def unknown_id(self) -> str:
        return "aima-no-such-vm"


@contextmanager
def azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureHarness]:
    for fake in fake_azure.running():
        yield AzureHarness(fake)


CLOUD_HARNESSES: dict[str, Callable[..., AbstractContextManager[Any]]] = {
    "gcp": gcp, "azure": azure}
CLOUD_KINDS = {"gcp": GcpHarness.kinds, "azure": AzureHarness.kinds}
