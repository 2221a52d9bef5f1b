"""A cloud agent's last resort: a host whose control plane has not answered for
``AIMA_SELF_SHUTDOWN_AFTER_S`` ends its own instance, by its provider's own
mechanism, so that no rented host outlives the control plane that would have
ended it (the pattern of SkyPilot's job clusters, which stop themselves when
their controller is gone).

Each provider's boot environment names the mechanism (``AIMA_SHUTDOWN``):

- ``aws``: ``shutdown -h now`` where the agent runs on the VM as root; in a
  container it cannot, so it exits with ``POWER_OFF_EXIT`` and the service the
  boot script installed (``providers/boot.py``) powers the VM off. EC2 launched it with
  ``InstanceInitiatedShutdownBehavior=terminate``: powered off is terminated.
- ``runpod``: RunPod gives every pod ``RUNPOD_POD_ID`` and ``RUNPOD_API_KEY``, a
  key scoped to the pod; ``podTerminate`` with it ends the pod.
- ``vastai``: Vast.ai gives every container ``CONTAINER_ID`` and
  ``CONTAINER_API_KEY``, a key scoped to the instance; ``DELETE
  /api/v0/instances/{id}/`` destroys it (a stopped one would bill its disk).
- ``process``: the subprocess provider's host is the agent's process: ending
  the process ends the host.
- ``gcp``: the VM deletes itself through the Compute API, with a token of its
  own service account from the metadata server (a powered-off VM would bill
  its disk). Its provider gives it a service account that may delete it.
- ``azure``: the VM deletes itself through ARM, with a token of its managed
  identity from IMDS (a VM shut down from inside is not deallocated and bills
  on in full). Its provider gives it an identity that may delete it.

A GCP or Azure VM whose delete fails powers itself off as an AWS host does:
on GCP that stops the VM's billing but for its disk; on Azure it bills on
until the control plane, back, deletes it, but runs nothing meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.instance_metadata import (
    AZURE_METADATA_URL,
    GCP_METADATA_URL,
    AzureImds,
    GcpMetadata,
    base_url,
)
from aima_tasks.kernel.instance_env import (
    POWER_OFF_EXIT,
    SELF_SHUTDOWN_AFTER_ENV,
    SHUTDOWN_ENV,
    ShutdownMechanism,
)

log = logging.getLogger(__name__)

DEFAULT_AFTER_S = 600.0
RUNPOD_GRAPHQL = "https://api.runpod.io/graphql"
VASTAI_API = "https://console.vast.ai/api/v0"
API_TIMEOUT_S = 20
GCP_COMPUTE_API = "https://compute.googleapis.com/compute/v1"
AZURE_ARM = "https://management.azure.com"
AZURE_VM_API = "2024-07-01"
AZURE_IDENTITY_API = "2018-02-01"
# The clouds' API bases, overridable as the metadata's is (METADATA_URL_ENV): a
# test's fake plays them for an agent in a process of its own.
GCP_COMPUTE_URL_ENV = "AIMA_GCP_COMPUTE_URL"
AZURE_ARM_URL_ENV = "AIMA_AZURE_ARM_URL"


class Contact:
    """When the control plane last answered, and whether that is too long ago."""

    def __init__(self, after_s: float, clock: Callable[[], float] = time.monotonic):
        self.after_s = after_s
        self.clock = clock
        self.last = clock()

    def answered(self) -> None:
        self.last = self.clock()

    def silent_s(self) -> float:
        return self.clock() - self.last

    def lost(self) -> bool:
        return self.silent_s() > self.after_s


@dataclass(frozen=True)
class SelfShutdown:
    mechanism: ShutdownMechanism
    after_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SelfShutdown | None:
        """What the boot environment says; None on a host the agent must not end
        (a local one: no mechanism named)."""
        named = env.get(SHUTDOWN_ENV, "").strip()
        if not named:
            return None
        try:
            mechanism = ShutdownMechanism(named)
        except ValueError:
            raise ValueError(f"{SHUTDOWN_ENV}={named!r}: use one of "
                             f"{', '.join(m.value for m in ShutdownMechanism)}") from None
        raw = env.get(SELF_SHUTDOWN_AFTER_ENV, "").strip() or str(DEFAULT_AFTER_S)
        try:
            after_s = float(raw)
        except ValueError:
            raise ValueError(f"{SELF_SHUTDOWN_AFTER_ENV}={raw!r} is not a number of "
                             "seconds") from None
        if after_s <= 0:
            raise ValueError(f"{SELF_SHUTDOWN_AFTER_ENV}={raw!r} must be more than 0")
        return cls(mechanism, after_s)

    def end_instance(self) -> int:
        """Ask the provider to end this host; the agent's exit code after it."""
        log.critical("ending this instance (%s): the control plane has not answered for "
                     "%g s", self.mechanism, self.after_s)
        if self.mechanism in (ShutdownMechanism.GCP, ShutdownMechanism.AZURE):
            return delete_own_vm(self.mechanism, os.environ)
        try:
            if self.mechanism == ShutdownMechanism.AWS:
                return power_off()
            if self.mechanism == ShutdownMechanism.RUNPOD:
                terminate_runpod_pod()
            elif self.mechanism == ShutdownMechanism.VASTAI:
                destroy_vastai_instance()
        except (OSError, KeyError) as exc:
            # Nothing more the agent can do: it exits, and the host's provider
            # bills on until the control plane, back again, ends it.
            log.error("could not end this instance through %s: %s", self.mechanism, exc)
        return 0


def power_off() -> int:
    try:
        subprocess.run(["shutdown", "-h", "now"], check=True, timeout=30,
                       capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("shutdown -h now failed here (%s); asking the boot script to power off",
                 exc)
    return POWER_OFF_EXIT


def delete_own_vm(mechanism: ShutdownMechanism, env: Mapping[str, str]) -> int:
    """Delete this GCP or Azure VM with its own identity, else power it off; the
    agent's exit code after it."""
    try:
        if mechanism == ShutdownMechanism.GCP:
            delete_gcp_instance(env)
        else:
            delete_azure_vm(env)
        return 0
    except (OSError, KeyError, TypeError, AttributeError) as exc:
        log.error("could not delete this VM through %s (%s): powering it off instead",
                  mechanism, exc)
        return power_off()


def delete_gcp_instance(env: Mapping[str, str]) -> None:
    metadata = GcpMetadata(base_url(env, GCP_METADATA_URL))
    project = metadata.text("project/project-id")
    # "projects/<number>/zones/<zone>"
    zone = metadata.text("instance/zone").rsplit("/", 1)[-1]
    name = metadata.text("instance/name")
    token = metadata.json("instance/service-accounts/default/token",
                          timeout_s=API_TIMEOUT_S)["access_token"]
    api = env.get(GCP_COMPUTE_URL_ENV, "").strip().rstrip("/") or GCP_COMPUTE_API
    call("DELETE", f"{api}/projects/{project}/zones/{zone}/instances/{name}", token)


def delete_azure_vm(env: Mapping[str, str]) -> None:
    imds = AzureImds(base_url(env, AZURE_METADATA_URL))
    compute = imds.compute()
    # The identity endpoint may take seconds to mint a token: the API's patience.
    token = imds.json("identity/oauth2/token", AZURE_IDENTITY_API, timeout_s=API_TIMEOUT_S,
                      resource=f"{AZURE_ARM}/")["access_token"]
    arm = env.get(AZURE_ARM_URL_ENV, "").strip().rstrip("/") or AZURE_ARM
    call("DELETE", f"{arm}/subscriptions/{compute['subscriptionId']}/resourceGroups/"
                   f"{compute['resourceGroupName']}/providers/Microsoft.Compute/"
                   f"virtualMachines/{compute['name']}?api-version={AZURE_VM_API}", token)


def terminate_runpod_pod() -> None:
    pod = host_env("RUNPOD_POD_ID")
    call("POST", RUNPOD_GRAPHQL, host_env("RUNPOD_API_KEY"), {
        "query": "mutation End($pod: String!) { podTerminate(input: {podId: $pod}) }",
        "variables": {"pod": pod}})


def destroy_vastai_instance() -> None:
    instance = host_env("CONTAINER_ID")
    call("DELETE", f"{VASTAI_API}/instances/{instance}/", host_env("CONTAINER_API_KEY"))


def host_env(name: str) -> str:
    """A variable the provider gave the host: in this process's environment, or
    in PID 1's, where Vast.ai's ssh launch mode leaves it."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        pairs = Path("/proc/1/environ").read_bytes().split(b"\0")
    except OSError:
        pairs = []
    for pair in pairs:
        key, _, found = pair.decode(errors="replace").partition("=")
        if key == name and found:
            return found
    raise KeyError(f"{name} is not set on this host")


def call(method: str, url: str, key: str, body: dict | None = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:
            log.info("%s %s: HTTP %s", method, url, response.status)
    except urllib.error.HTTPError as exc:
        raise OSError(f"{method} {url}: HTTP {exc.code} "
                      f"{exc.read().decode(errors='replace')[:300]}") from None
