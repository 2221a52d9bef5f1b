"""A local stand-in for Compute Engine's REST API and the Cloud Billing
Catalog, answering what ``google-cloud-compute`` 1.57.0 sends the way Google
answers it, with state, fault injection and a record of every request.

What the SDK sends (``google/cloud/compute_v1/services/*/transports/rest_base.py``,
``_get_http_options``; bodies are the proto as JSON with camelCase names,
query parameters camelCase beside ``$alt=json;enum-encoding=int``):

- ``InstancesClient.insert_unary`` -> ``POST /compute/v1/projects/{project}/zones/{zone}/
  instances`` with the ``instance_resource`` as body
- ``.get`` -> ``GET .../zones/{zone}/instances/{instance}``; ``.delete_unary`` ->
  ``DELETE`` the same; ``.stop_unary``/``.start_unary``/``.resume_unary`` -> ``POST
  .../instances/{instance}/stop`` (``/start``, ``/resume``)
- ``.aggregated_list`` -> ``GET /compute/v1/projects/{project}/aggregated/instances``
  (``filter``, ``pageToken``); items keyed ``zones/{zone}``
- ``AcceleratorTypesClient.list`` -> ``GET .../zones/{zone}/acceleratorTypes``
  (``maxResults``); ``MachineTypesClient.list`` -> ``GET .../zones/{zone}/machineTypes``
- ``ZoneOperationsClient.wait`` -> ``POST .../zones/{zone}/operations/{operation}/wait``;
  ``.get`` -> ``GET .../zones/{zone}/operations/{operation}``
- errors (``google.api_core.exceptions.from_http_response``) read ``{"error": {"code",
  "message", "errors": [{"reason", "domain", "message"}]}}``

Billing: ``GET /v1/services/{service}/skus`` (``currencyCode``, ``pageSize``,
``pageToken``, ``key``), answering ``{"skus": [...], "nextPageToken"}`` with the
SKU shape of cloud.google.com/billing/docs/reference/rest/v1/services.skus.

What the server does here, and where that comes from:

- OAuth: ``Authorization: Bearer <token>`` (an access token, or a service
  account's self-signed JWT, google-auth's ``with_always_use_jwt_access``, which
  the Compute transports turn on), else HTTP 401 UNAUTHENTICATED with reason
  ``required`` (a missing header) or ``authError`` (a wrong token); the billing API
  also takes ``?key=``.
- An insert is accepted with a RUNNING operation (status PROVISIONING), and the
  VM is RUNNING once the operation is waited for. An exhausted zone fails the
  operation, not the call: ``ZONE_RESOURCE_POOL_EXHAUSTED``, "The zone
  'projects/P/zones/Z' does not have enough resources available to fulfill the
  request.  Try a different zone, or try again later." (googlefonts/fontbakery-
  dashboard#81, googleapis/nodejs-compute#377); its ``httpErrorStatusCode`` 503 is
  modelled. A GPU quota refuses the call itself: 403 ``quotaExceeded``, "Quota
  'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region R." (gcloud's "Could not fetch
  resource" answers).
- Validation as Compute's: names (RFC 1035), labels (lowercase, 63 characters),
  unique metadata keys, a boot disk, GPUs only with onHostMaintenance TERMINATE
  ("Instances with guest accelerators do not support live migration."), N1
  machine types needing guestAccelerators, an existing name: 409 alreadyExists.
- Filters: ``(labels.KEY = "VALUE") ...`` on instances, ``name eq RE2`` on
  machine types, quoted or not (a full match: the ``filter`` field's docstring in
  ``compute_v1.types``); anything else is 400 ``invalid``.
- GCP's ``TERMINATED`` is a stopped VM; a deleted one is gone (404 ``notFound``).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.auth import jwt
from google.auth.exceptions import GoogleAuthError
from google.oauth2.credentials import Credentials

from providers.gcp import GcpProvider
from tests.providers.fake_server import FakeServer

PROJECT = "aima-test"
TOKEN = "ya29.fake-access-token"
API_KEY = "AIzaFAKE0BILLING0KEY"
BASE = "https://www.googleapis.com/compute/v1"
SERVICE = "6F81-5844-456A"
NO_CAPACITY = ("The zone 'projects/{project}/zones/{zone}' does not have enough resources "
               "available to fulfill the request.  Try a different zone, or try again later.")
LIVE_MIGRATION = "Instances with guest accelerators do not support live migration."
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}\Z")
_LABEL_TERM = re.compile(r'\s*\(labels\.([a-z][a-z0-9_-]*) = "([a-z0-9_-]*)"\)\s*')
_NAME_EQ = re.compile(r"""name eq (?:"([^"]+)"|'([^']+)'|(\S+))\Z""")

# zone -> accelerator -> maximumCardsPerInstance
ACCELERATORS = {
    "us-central1-a": {"nvidia-l4": 8, "nvidia-tesla-t4": 4, "nvidia-tesla-a100": 16},
    "europe-west4-a": {"nvidia-l4": 8, "nvidia-tesla-t4": 4},
}
# name -> (guestCpus, memoryMb, GPUs that come with it)
MACHINE_TYPES = {
    "e2-standard-4": (4, 16384, 0), "n1-standard-8": (8, 30720, 0),
    "n1-standard-16": (16, 61440, 0), "n1-standard-32": (32, 122880, 0),
    "g2-standard-8": (8, 32768, 1), "g2-standard-24": (24, 98304, 2),
    "g2-standard-48": (48, 196608, 4), "g2-standard-96": (96, 393216, 8),
    "a2-highgpu-1g": (12, 87040, 1), "a2-highgpu-2g": (24, 174080, 2),
}
# (description, usage type, regions, USD per unit), modelled on list prices of 2026.
SKUS = [
    ("Nvidia L4 GPU running in Americas", "OnDemand", ["us-central1"], 0.56),
    ("Spot Preemptible Nvidia L4 GPU running in Americas", "Preemptible", ["us-central1"], 0.224),
    ("G2 Instance Core running in Americas", "OnDemand", ["us-central1"], 0.02429),
    ("G2 Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.002846),
    ("Spot Preemptible G2 Instance Core running in Americas", "Preemptible", ["us-central1"],
     0.00972),
    ("Spot Preemptible G2 Instance Ram running in Americas", "Preemptible", ["us-central1"],
     0.001138),
    ("Nvidia L4 GPU running in Netherlands", "OnDemand", ["europe-west4"], 0.6163),
    ("G2 Instance Core running in Netherlands", "OnDemand", ["europe-west4"], 0.02673),
    ("G2 Instance Ram running in Netherlands", "OnDemand", ["europe-west4"], 0.003132),
    ("Nvidia Tesla T4 GPU running in Americas", "OnDemand", ["us-central1"], 0.35),
    ("Spot Preemptible Nvidia Tesla T4 GPU running in Americas", "Preemptible",
     ["us-central1"], 0.14),
    ("N1 Predefined Instance Core running in Americas", "OnDemand", ["us-central1"], 0.031611),
    ("N1 Predefined Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.004237),
    ("Spot Preemptible N1 Predefined Instance Core running in Americas", "Preemptible",
     ["us-central1"], 0.00632),
    ("Spot Preemptible N1 Predefined Instance Ram running in Americas", "Preemptible",
     ["us-central1"], 0.000847),
    ("Nvidia Tesla A100 GPU running in Americas", "OnDemand", ["us-central1"], 2.933908),
    ("A2 Instance Core running in Americas", "OnDemand", ["us-central1"], 0.031611),
    ("A2 Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.004237),
    # What the provider must leave out: commitments, custom types, disks.
    ("Commitment v1: Nvidia L4 GPU in Americas for 1 Year", "Commit1Yr", ["us-central1"], 0.35),
    ("N1 Custom Instance Core running in Americas", "OnDemand", ["us-central1"], 0.033174),
    ("Storage PD Capacity", "OnDemand", ["us-central1"], 0.04),
]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    status: int


class GcpError(Exception):
    def __init__(self, status: int, reason: str, message: str, domain: str = "global"):
        super().__init__(message)
        self.status, self.reason, self.message, self.domain = status, reason, message, domain

    def body(self) -> dict[str, Any]:
        error = {"code": self.status, "message": self.message, "errors": [
            {"message": self.message, "domain": self.domain, "reason": self.reason}]}
        if self.status == 401:
            error["status"] = "UNAUTHENTICATED"
        return {"error": error}


def _money(price: float) -> dict[str, Any]:
    units = int(price)
    return {"currencyCode": "USD", "units": str(units), "nanos": round((price - units) * 1e9)}


def seed_skus() -> list[dict[str, Any]]:
    skus = []
    for number, (description, usage, regions, price) in enumerate(SKUS):
        group = "GPU" if "GPU" in description else "RAM" if "Ram" in description else "CPU"
        family = "Storage" if description.startswith("Storage") else "Compute"
        unit = "GiBy.h" if group == "RAM" else "h"
        sku_id = f"{number:04X}-FAKE-{number * 7:04X}"
        skus.append({
            "name": f"services/{SERVICE}/skus/{sku_id}", "skuId": sku_id,
            "description": description,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": family,
                         "resourceGroup": group, "usageType": usage},
            "serviceRegions": regions,
            "pricingInfo": [{"summary": "", "pricingExpression": {
                "usageUnit": unit, "displayQuantity": 1, "baseUnit": "s",
                "baseUnitConversionFactor": 3600,
                "tieredRates": [{"startUsageAmount": 0, "unitPrice": _money(price)}]},
                "currencyConversionRate": 1, "effectiveTime": "2026-12-01T00:00:00Z"}],
            "serviceProviderName": "Google",
            "geoTaxonomy": {"type": "REGIONAL", "regions": regions}})
    return skus


class FakeGcp(FakeServer):
    """``with FakeGcp() as fake:`` serves on ``fake.url`` until the block ends."""

    def __init__(self, project: str = PROJECT):
        self.project = project
        self.token = TOKEN
        self.api_key = API_KEY
        self.accelerators = {zone: dict(kinds) for zone, kinds in ACCELERATORS.items()}
        self.skus = seed_skus()
        self.page_size = 8  # SKUs per page at most, so that paging is exercised
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.operations: dict[tuple[str, str], dict[str, Any]] = {}
        # (zone, operation) -> (instance key, status once done, whether it created it)
        self.pending: dict[tuple[str, str], tuple[tuple[str, str], str, bool]] = {}
        self.exhausted: set[tuple[str, str]] = set()  # (zone, accelerator)
        self.quota: dict[str, int] = {}  # accelerator -> GPUs allowed in all
        self.requests: list[Recorded] = []
        self._faults: list[GcpError] = []
        self._hidden: dict[tuple[str, str], int] = {}
        self._hide_next = 0
        self.service_accounts: dict[str, str] = {}  # e-mail -> key id
        self.public_keys: dict[str, str] = {}  # key id -> public key (PEM)
        self._lock = threading.RLock()
        super().__init__(_handler(self))

    # ---------------------------------------------------------- test controls

    def fail_next(self, status: int, reason: str, message: str = "", count: int = 1) -> None:
        """Answer the next ``count`` requests with this error, before anything else."""
        error = GcpError(status, reason, message or f"Fake failure: {reason}",
                         "usageLimits" if "Limit" in reason or "quota" in reason else "global")
        with self._lock:
            self._faults.extend([error] * count)

    def hide_new_instances(self, calls: int) -> None:
        """The next instance created stays out of list answers for ``calls`` lists."""
        with self._lock:
            self._hide_next = calls

    def exhaust(self, zone: str, accelerator: str) -> None:
        with self._lock:
            self.exhausted.add((zone, accelerator))

    def calls(self, method: str, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def instance(self, instance_id: str) -> dict[str, Any]:
        zone, _, name = instance_id.partition("/")
        return self.instances[(zone, name)]

    def metadata(self, instance_id: str) -> dict[str, str]:
        items = self.instance(instance_id)["metadata"].get("items", [])
        return {item["key"]: item["value"] for item in items}

    def set_status(self, instance_id: str, status: str) -> None:
        with self._lock:
            self.instance(instance_id)["status"] = status

    # ---------------------------------------------------------- serving

    def answer(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            given = json.loads(body) if body else {}
        except ValueError:
            given = {}
        with self._lock:
            try:
                if self._faults:
                    raise self._faults.pop(0)
                if url.path == "/token" and method == "POST":
                    status, answer = 200, self._grant(body)
                else:
                    self._authenticate(url.path, headers, query)
                    status, answer = 200, self._route(method, url.path, query, given)
            except GcpError as error:
                status, answer = error.status, error.body()
            self.requests.append(Recorded(method, url.path, query, given, status))
        return status, answer

    def _authenticate(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        if path.startswith("/v1/services/") and query.get("key") == self.api_key:
            return
        bearer = headers.get("authorization", "")
        if not bearer:
            raise GcpError(401, "required", "Request is missing required authentication "
                           "credential. Expected OAuth 2 access token, login cookie or other "
                           "valid authentication credential.")
        if bearer != f"Bearer {self.token}" and not self._signed(bearer[7:]):
            raise GcpError(401, "authError", "Request had invalid authentication credentials. "
                           "Expected OAuth 2 access token, login cookie or other valid "
                           "authentication credential.")

    def accept_service_account(self, email: str, key_id: str, public_key_pem: str) -> None:
        """Take JWTs that ``email``'s key signed: self-signed ones as bearer tokens
        (what the Compute SDK sends for a service account) and assertions at
        ``/token`` (google-auth's JWT-bearer grant, for the billing session)."""
        self.service_accounts[email] = key_id
        self.public_keys[key_id] = public_key_pem

    def _signed(self, token: str) -> bool:
        try:
            claims = jwt.decode(token, certs=self.public_keys, verify=True)
        except (ValueError, GoogleAuthError):
            return False
        return claims.get("iss") in self.service_accounts

    def _grant(self, body: bytes) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or \
                not self._signed(form.get("assertion", "")):
            raise GcpError(400, "invalid_grant", "Invalid JWT Signature.")
        return {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}

    def _route(self, method: str, path: str, query: dict[str, str],
               given: dict[str, Any]) -> dict[str, Any]:
        return _route(self, method, path, query, given)

    def hidden(self, key: tuple[str, str]) -> bool:
        """Whether a list answer leaves the instance out (and one fewer time next)."""
        left = self._hidden.get(key, 0)
        if left:
            self._hidden[key] = left - 1
        return left > 0

    def created(self, key: tuple[str, str]) -> None:
        if self._hide_next:
            self._hidden[key], self._hide_next = self._hide_next, 0

    def new_operation(self, zone: str, kind: str, target: str, status: str = "DONE",
                      error: tuple[str, str, int] | None = None) -> dict[str, Any]:
        name = f"operation-{datetime.now(UTC):%s%f}-{secrets.token_hex(6)}"
        operation = {
            "kind": "compute#operation", "id": str(secrets.randbits(63)), "name": name,
            "zone": f"{BASE}/projects/{self.project}/zones/{zone}", "operationType": kind,
            "targetLink": target, "status": status, "progress": 100 if status == "DONE" else 0,
            "insertTime": _now(), "selfLink": f"{BASE}/projects/{self.project}/zones/{zone}/"
                                              f"operations/{name}"}
        if error is not None:
            code, message, http = error
            operation.update(error={"errors": [{"code": code, "message": message}]},
                             httpErrorStatusCode=http, httpErrorMessage="SERVICE UNAVAILABLE"
                             if http == 503 else "FORBIDDEN")
        self.operations[(zone, name)] = operation
        return operation


# ------------------------------------------------------------------ routes

_ZONE = r"/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
_INSTANCE = _ZONE + r"/instances/(?P<name>[^/]+)"
_FAMILY_GPU = {"g2": "nvidia-l4", "a2": "nvidia-tesla-a100"}
_QUOTA_NAMES = {"nvidia-l4": "NVIDIA_L4_GPUS", "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
                "nvidia-tesla-a100": "NVIDIA_A100_GPUS"}


def _route(fake: FakeGcp, method: str, path: str, query: dict[str, str],
           given: dict[str, Any]) -> dict[str, Any]:
    for verb, pattern, handler in _ROUTES:
        found = re.fullmatch(pattern, path)
        if found is None or verb != method:
            continue
        args = found.groupdict()
        if args.get("project", fake.project) != fake.project:
            raise GcpError(403, "forbidden", f"Required 'compute.instances.list' permission "
                                             f"for 'projects/{args['project']}'")
        if "zone" in args and args["zone"] not in fake.accelerators:
            raise GcpError(400, "invalid", f"Invalid value for field 'zone': "
                                           f"'{args['zone']}'. Unknown zone.")
        return handler(fake, args, query, given)
    raise GcpError(404, "notFound", f"The requested URL {path} was not found on this server.")


def _url(fake: FakeGcp, zone: str, *rest: str) -> str:
    return "/".join([f"{BASE}/projects/{fake.project}/zones/{zone}", *rest])


def _missing(fake: FakeGcp, zone: str, name: str) -> GcpError:
    return GcpError(404, "notFound", f"The resource 'projects/{fake.project}/zones/{zone}/"
                                     f"instances/{name}' was not found")


def _known(fake: FakeGcp, args: dict[str, str]) -> dict[str, Any]:
    instance = fake.instances.get((args["zone"], args["name"]))
    if instance is None:
        raise _missing(fake, args["zone"], args["name"])
    return instance


def _check_resource(fake: FakeGcp, zone: str, given: dict[str, Any]) -> tuple[str, str, int]:
    """Compute's checks of an insert body; the machine type, GPU type and count."""
    name = given.get("name", "")
    if not _NAME.match(name):
        raise GcpError(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. "
                       "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
    if (zone, name) in fake.instances:
        raise GcpError(409, "alreadyExists", f"The resource 'projects/{fake.project}/zones/"
                                             f"{zone}/instances/{name}' already exists")
    machine = (given.get("machineType") or "").rsplit("/", 1)[-1]
    if machine not in MACHINE_TYPES or (_FAMILY_GPU.get(machine[:2], "nvidia-tesla-t4")
                                        not in fake.accelerators[zone]):
        raise GcpError(400, "invalid", f"Invalid value for field 'resource.machineType': "
                       f"'{given.get('machineType')}'. Machine type with name '{machine}' "
                       f"does not exist in zone '{zone}'.")
    for key, value in (given.get("labels") or {}).items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise GcpError(400, "invalid", f"Invalid value for field 'resource.labels': "
                           f"'{key}'='{value}'. Label keys and values may contain only "
                           "lowercase letters, digits, underscores and dashes.")
    keys = [item["key"] for item in (given.get("metadata") or {}).get("items", [])]
    if len(keys) != len(set(keys)):
        raise GcpError(400, "invalid", "Invalid value for field 'resource.metadata': "
                                       "duplicate keys.")
    boot = [d for d in given.get("disks") or [] if d.get("boot")]
    if len(boot) != 1 or not (boot[0].get("initializeParams") or {}).get("sourceImage"):
        raise GcpError(400, "required", "Invalid value for field 'resource.disks': ''. "
                                        "Boot disk must be specified.")
    if not given.get("networkInterfaces"):
        raise GcpError(400, "required", "Required field 'resource.networkInterfaces' "
                                        "not specified")
    attached = given.get("guestAccelerators") or []
    if machine[:2] in _FAMILY_GPU:
        accelerator, count = _FAMILY_GPU[machine[:2]], MACHINE_TYPES[machine][2]
    elif attached:
        accelerator = attached[0]["acceleratorType"].rsplit("/", 1)[-1]
        count = int(attached[0].get("acceleratorCount") or 0)
        if accelerator not in fake.accelerators[zone] or \
                count > fake.accelerators[zone][accelerator]:
            raise GcpError(400, "invalid", "Invalid value for field 'resource.guest"
                           f"Accelerators[0].acceleratorType': '{accelerator}'. Accelerator "
                           f"type '{accelerator}' does not exist in zone '{zone}'.")
    else:
        return machine, "", 0
    if (given.get("scheduling") or {}).get("onHostMaintenance") != "TERMINATE":
        raise GcpError(400, "invalid", LIVE_MIGRATION)
    return machine, accelerator, count


def _insert(fake: FakeGcp, args: dict[str, str], _: dict[str, str],
            given: dict[str, Any]) -> dict[str, Any]:
    zone = args["zone"]
    machine, accelerator, count = _check_resource(fake, zone, given)
    scheduling = {"onHostMaintenance": "MIGRATE", "automaticRestart": True,
                  "provisioningModel": "STANDARD", **(given.get("scheduling") or {})}
    if scheduling["provisioningModel"] == "SPOT" and scheduling["automaticRestart"]:
        raise GcpError(400, "invalid", "Invalid value for field 'resource.scheduling."
                       "automaticRestart': 'true'. Spot VMs cannot restart automatically.")
    limit = fake.quota.get(accelerator)
    if limit is not None:
        used = sum(i["_gpus"] for i in fake.instances.values() if i["_accelerator"] == accelerator)
        if used + count > limit:
            raise GcpError(403, "quotaExceeded", f"Quota '{_QUOTA_NAMES[accelerator]}' "
                           f"exceeded.  Limit: {limit:.1f} in region {zone[:-2]}.", "usageLimits")
    number = len(fake.instances) + 2
    name = given["name"]
    interfaces = [{**nic, "name": f"nic{i}", "networkIP": f"10.128.0.{number}",
                   "accessConfigs": [{**ac, "natIP": f"34.90.1.{number}"}
                                     for ac in nic.get("accessConfigs", [])]}
                  for i, nic in enumerate(given["networkInterfaces"])]
    instance = {
        "kind": "compute#instance", "id": str(secrets.randbits(63)), "creationTimestamp": _now(),
        "name": name, "zone": _url(fake, zone), "status": "PROVISIONING",
        "machineType": _url(fake, zone, "machineTypes", machine),
        "labels": given.get("labels") or {}, "labelFingerprint": secrets.token_urlsafe(8),
        "metadata": {"kind": "compute#metadata", "fingerprint": secrets.token_urlsafe(8),
                     **(given.get("metadata") or {})},
        "networkInterfaces": interfaces, "disks": given["disks"], "scheduling": scheduling,
        "guestAccelerators": given.get("guestAccelerators") or [],
        "serviceAccounts": given.get("serviceAccounts") or [],
        "selfLink": _url(fake, zone, "instances", name),
        # Not Compute's fields (left out of answers): what quota and capacity count.
        "_accelerator": accelerator, "_gpus": count}
    fake.instances[(zone, name)] = instance
    fake.created((zone, name))
    operation = fake.new_operation(zone, "insert", instance["selfLink"], status="RUNNING")
    fake.pending[(zone, operation["name"])] = ((zone, name), "RUNNING", True)
    return operation


def _public(instance: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in instance.items() if not key.startswith("_")}


def _get(fake: FakeGcp, args: dict[str, str], *_: Any) -> dict[str, Any]:
    return _public(_known(fake, args))


def _delete(fake: FakeGcp, args: dict[str, str], *_: Any) -> dict[str, Any]:
    instance = _known(fake, args)
    del fake.instances[(args["zone"], args["name"])]
    return fake.new_operation(args["zone"], "delete", instance["selfLink"])


def _power(fake: FakeGcp, args: dict[str, str], *_: Any) -> dict[str, Any]:
    instance, zone, action = _known(fake, args), args["zone"], args["action"]
    if action == "stop":
        instance["status"] = "TERMINATED"
        return fake.new_operation(zone, "stop", instance["selfLink"])
    operation = fake.new_operation(zone, action, instance["selfLink"], status="RUNNING")
    fake.pending[(zone, operation["name"])] = ((zone, args["name"]), "RUNNING", False)
    return operation


def _finish(fake: FakeGcp, zone: str, name: str) -> dict[str, Any]:
    """An operation waited for is done: the VM runs, or the zone had no room."""
    operation = fake.operations.get((zone, name))
    if operation is None:
        raise GcpError(404, "notFound", f"The resource 'projects/{fake.project}/zones/{zone}/"
                                        f"operations/{name}' was not found")
    pending = fake.pending.pop((zone, name), None)
    if pending is not None:
        key, status, created = pending
        instance = fake.instances.get(key)
        if instance is not None and (zone, instance["_accelerator"]) in fake.exhausted:
            operation.update(error={"errors": [{
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": NO_CAPACITY.format(project=fake.project, zone=zone)}]},
                httpErrorStatusCode=503, httpErrorMessage="SERVICE UNAVAILABLE")
            if created:
                del fake.instances[key]
        elif instance is not None:
            instance["status"] = status
        operation.update(status="DONE", progress=100, endTime=_now())
    return operation


def _wait(fake: FakeGcp, args: dict[str, str], *_: Any) -> dict[str, Any]:
    return _finish(fake, args["zone"], args["operation"])


def _page(items: list[Any], query: dict[str, str], limit: int = 500) -> tuple[list[Any], str]:
    start = int(query.get("pageToken") or 0)
    size = min(int(query.get("maxResults") or limit), limit)
    end = start + size
    return items[start:end], str(end) if end < len(items) else ""


def _listed(kind: str, items: list[Any], query: dict[str, str], key: str = "items",
            limit: int = 500) -> dict[str, Any]:
    page, token = _page(items, query, limit)
    answer: dict[str, Any] = {"kind": kind, key: page}
    if token:
        answer["nextPageToken"] = token
    return answer


def _label_filter(text: str) -> dict[str, str]:
    terms = list(_LABEL_TERM.finditer(text))
    if "".join(t.group(0) for t in terms) != text:
        raise GcpError(400, "invalid", f"Invalid value for field 'filter': '{text}'. "
                                       "Invalid list filter expression.")
    return {t.group(1): t.group(2) for t in terms}


def _aggregated(fake: FakeGcp, _: dict[str, str], query: dict[str, str],
                __: dict[str, Any]) -> dict[str, Any]:
    wanted = _label_filter(query.get("filter", ""))
    items: dict[str, Any] = {}
    for zone in fake.accelerators:
        found = [_public(i) for (z, name), i in fake.instances.items()
                 if z == zone and not fake.hidden((z, name))
                 and all(i["labels"].get(k) == v for k, v in wanted.items())]
        items[f"zones/{zone}"] = {"instances": found} if found else {"warning": {
            "code": "NO_RESULTS_ON_PAGE", "message": f"There are no results for scope "
            f"'zones/{zone}' on this page.", "data": [{"key": "scope", "value": f"zones/{zone}"}]}}
    return {"kind": "compute#instanceAggregatedList", "items": items,
            "selfLink": f"{BASE}/projects/{fake.project}/aggregated/instances"}


def _accelerator_types(fake: FakeGcp, args: dict[str, str], query: dict[str, str],
                       _: dict[str, Any]) -> dict[str, Any]:
    zone = args["zone"]
    items = [{"kind": "compute#acceleratorType", "name": name, "zone": _url(fake, zone),
              "description": f"NVIDIA {name.removeprefix('nvidia-').removeprefix('tesla-')}",
              "maximumCardsPerInstance": most,
              "selfLink": _url(fake, zone, "acceleratorTypes", name)}
             for name, most in fake.accelerators[zone].items()]
    return _listed("compute#acceleratorTypeList", items, query)


def _machine_types(fake: FakeGcp, args: dict[str, str], query: dict[str, str],
                   _: dict[str, Any]) -> dict[str, Any]:
    zone, text = args["zone"], query.get("filter", "")
    found = _NAME_EQ.match(text)
    if text and found is None:
        raise GcpError(400, "invalid", f"Invalid value for field 'filter': '{text}'.")
    items = []
    for name, (cpus, memory, gpus) in MACHINE_TYPES.items():
        gpu = _FAMILY_GPU.get(name[:2])
        if (gpu and gpu not in fake.accelerators[zone]) or \
                (found and not re.fullmatch(next(g for g in found.groups() if g), name)):
            continue
        items.append({"kind": "compute#machineType", "name": name, "guestCpus": cpus,
                      "memoryMb": memory, "zone": zone, "isSharedCpu": False,
                      "selfLink": _url(fake, zone, "machineTypes", name),
                      **({"accelerators": [{"guestAcceleratorType": gpu,
                                            "guestAcceleratorCount": gpus}]} if gpu else {})})
    return _listed("compute#machineTypeList", items, query)


def _skus(fake: FakeGcp, args: dict[str, str], query: dict[str, str],
          _: dict[str, Any]) -> dict[str, Any]:
    if args["service"] != SERVICE:
        raise GcpError(404, "notFound", f"Service services/{args['service']} not found.")
    page, token = _page(fake.skus, {"pageToken": query.get("pageToken", ""),
                                    "maxResults": query.get("pageSize", "5000")},
                        fake.page_size)
    return {"skus": page, "nextPageToken": token}


_ROUTES: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
    ("POST", _ZONE + r"/instances", _insert),
    ("GET", _INSTANCE, _get),
    ("DELETE", _INSTANCE, _delete),
    ("POST", _INSTANCE + r"/(?P<action>stop|start|resume)", _power),
    ("GET", r"/compute/v1/projects/(?P<project>[^/]+)/aggregated/instances", _aggregated),
    ("GET", _ZONE + r"/acceleratorTypes", _accelerator_types),
    ("GET", _ZONE + r"/machineTypes", _machine_types),
    ("POST", _ZONE + r"/operations/(?P<operation>[^/]+)/wait", _wait),
    ("GET", _ZONE + r"/operations/(?P<operation>[^/]+)", _wait),
    ("GET", r"/v1/services/(?P<service>[^/]+)/skus", _skus),
]


def _now() -> str:
    # Compute's timestamps are RFC 3339 in Pacific time.
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


def _handler(fake: FakeGcp) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = fake.answer(self.command, self.path, headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read fake.requests, not stderr

    return Handler


def gcp_provider(fake: FakeGcp, **settings: str) -> GcpProvider:
    """A provider pointed at ``fake``, with an access token it accepts."""
    return GcpProvider({"project": fake.project, "zones": "us-central1-a,europe-west4-a",
                        "api_endpoint": fake.url, "billing_endpoint": fake.url,
                        "vm_image": "projects/aima-test/global/images/aima-agent-gpu",
                        "operation_timeout_s": "5", **settings},
                       credentials=Credentials(token=fake.token))


def running(project: str = PROJECT) -> Iterator[FakeGcp]:
    """For a pytest fixture: ``yield from running()``."""
    with FakeGcp(project) as fake:
        yield fake
