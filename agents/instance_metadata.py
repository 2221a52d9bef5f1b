"""Reading GCP's metadata server and Azure's instance metadata service (IMDS)
from the VM itself: its preemption notices (``agents/preemption.py``) and what
it needs to delete itself (``agents/self_shutdown.py``).

Both services answer only a request that carries their header (GCP:
``Metadata-Flavor: Google``, Azure: ``Metadata: true``), which a browser or a
proxy tricked into a request does not send. GCP's server sends its header back,
and a client that does not find it is not talking to the metadata server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from aima_tasks.kernel.instance_env import DEFAULT_METADATA_URL, METADATA_URL_ENV

GCP_METADATA_URL = "http://metadata.google.internal"
AZURE_METADATA_URL = DEFAULT_METADATA_URL
TIMEOUT_S = 2.0
# Azure's IMDS answers with the version a request names, so each path pins the one read.
AZURE_INSTANCE_API = "2021-02-01"


def base_url(env: Mapping[str, str], default: str) -> str:
    """The metadata service's base URL: the one the environment names (a test's
    fake), else the cloud's own."""
    return (env.get(METADATA_URL_ENV, "").strip() or default).rstrip("/")


class GcpMetadata:
    """GCP's metadata server, under ``/computeMetadata/v1/``."""

    def __init__(self, base: str = GCP_METADATA_URL):
        self.base_url = base.rstrip("/")

    def text(self, path: str, timeout_s: float = TIMEOUT_S) -> str:
        """The value at ``path`` (``instance/name``, …); OSError when it cannot be read."""
        request = urllib.request.Request(f"{self.base_url}/computeMetadata/v1/{path}")
        request.add_header("Metadata-Flavor", "Google")
        with opened(request, timeout_s) as response:
            if response.headers.get("Metadata-Flavor") != "Google":
                raise OSError(f"{request.full_url} did not answer as GCP's metadata server")
            return response.read().decode().strip()

    def json(self, path: str, timeout_s: float = TIMEOUT_S) -> Any:
        return decoded(self.text(path, timeout_s), path)


class AzureImds:
    """Azure's instance metadata service, under ``/metadata/``."""

    def __init__(self, base: str = AZURE_METADATA_URL):
        self.base_url = base.rstrip("/")

    def json(self, path: str, api_version: str, timeout_s: float = TIMEOUT_S,
             **params: str) -> Any:
        """The JSON document at ``/metadata/{path}``; OSError when it cannot be read."""
        query = urllib.parse.urlencode({"api-version": api_version, **params})
        request = urllib.request.Request(f"{self.base_url}/metadata/{path}?{query}")
        request.add_header("Metadata", "true")
        with opened(request, timeout_s) as response:
            return decoded(response.read().decode(), path)

    def compute(self) -> dict[str, Any]:
        """This VM's ``compute`` section: name, resourceGroupName, subscriptionId, …"""
        compute = self.json("instance", AZURE_INSTANCE_API).get("compute")
        if not isinstance(compute, dict):
            raise OSError("the instance metadata has no compute section")
        return compute


def opened(request: urllib.request.Request, timeout_s: float):
    """The response, or an OSError that says what the service answered."""
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        raise OSError(f"{request.full_url}: HTTP {exc.code} "
                      f"{exc.read().decode(errors='replace')[:300]}") from None


def decoded(body: str, path: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise OSError(f"the metadata at {path} is not JSON: {exc}") from None
