"""A local stand-in for what the ``azure`` provider talks to: Microsoft Entra
ID's token endpoint, Azure Resource Manager's Compute paths and the Retail
Prices API, over TLS with a CA made for the test, so that the real SDKs run
with their checks on (azure-core sends no bearer token over plain http).

What the SDKs send, and what this answers (azure-mgmt-compute 39.0.0,
``azure/mgmt/compute/operations/_operations.py``; api-version 2026-04-01 for
VMs, 2021-07-01 for SKUs; azure-core 1.41 ``polling/base_polling.py`` and
azure-mgmt-core ``polling/arm_polling.py`` for long-running operations):

- ``build_virtual_machines_create_or_update_request``: ``PUT /subscriptions/{s}/
  resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}``; the
  initial call takes 200 or 201. Compute answers 201 with the VM
  (``provisioningState: Creating``) and ``Azure-AsyncOperation`` pointing at
  ``/subscriptions/{s}/providers/Microsoft.Compute/locations/{region}/operations/{id}``,
  whose GET says ``InProgress``, then ``Succeeded`` (ARMPolling reads ``status``).
- ``build_virtual_machines_get_request`` (``$expand=instanceView`` adds
  ``properties.instanceView``), ``..._instance_view_request`` (``/instanceView``),
  ``..._list_request`` (``value`` and ``nextLink``).
- ``..._delete_request``: 202 with ``Location`` and ``Azure-AsyncOperation``;
  200, 202 and 204 are taken; a VM that is not there is 204 (ARM's delete is
  idempotent).
- ``..._deallocate_request`` and ``..._start_request``: ``POST .../deallocate``,
  ``.../start``, 202 with the same headers; 404 for a VM that is not there.
- ``build_resource_skus_list_request``: ``GET /subscriptions/{s}/providers/
  Microsoft.Compute/skus?$filter=location eq '{region}'``.
- Role assignments (Microsoft.Authorization, api-version 2022-04-01): ``PUT
  {vm id}/providers/Microsoft.Authorization/roleAssignments/{uuid}``, 201.
- Errors: ``{"error": {"code", "message"}}`` (ARM's format): 401
  ``InvalidAuthenticationToken`` without a good bearer token, 404
  ``ResourceNotFound``, 400 ``MissingApiVersionParameter``.

Entra ID (msal 1.39 through azure-identity 1.27 ``ClientSecretCredential``;
``msal/authority.py``, ``msal/oauth2cli/oauth2.py``): with instance discovery
off, msal reads ``/{tenant}/v2.0/.well-known/openid-configuration`` and POSTs
``grant_type=client_credentials`` with ``client_id``, ``client_secret`` and
``scope`` to its ``token_endpoint``; a wrong secret is 401 ``invalid_client``
(AADSTS7000215). ``/common/discovery/instance`` is answered too.

Retail Prices (learn.microsoft.com, "Azure Retail Prices overview"):
``GET /api/retail/prices?$filter=a eq 'x' and b eq 'y'``; pages of ``Items``
with ``NextPageLink`` (``$skip``), ``Count``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.azure import AzureProvider

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
RESOURCE_GROUP = "aima-test"
TENANT = "11111111-2222-4333-8444-555555555555"
CLIENT_ID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
CLIENT_SECRET = "fake~secret.for-tests"
SUBNET = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
          f"Microsoft.Network/virtualNetworks/aima/subnets/agents")
VM_PATH = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                     r"Microsoft\.Compute/virtualMachines(?:/(?P<name>[^/]+))?"
                     r"(?:/(?P<action>deallocate|start|instanceView))?"
                     r"(?P<role>/providers/Microsoft\.Authorization/roleAssignments/[^/]+)?\Z")
OPERATION = re.compile(r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/[^/]+/"
                       r"operations/(?P<id>[^/]+)\Z")
# The sizes the fake's subscription has: size -> (regions, Spot capable, GPUs).
SIZE_TABLE = {
    "Standard_NC4as_T4_v3": (("eastus", "westeurope"), True, 1),
    "Standard_NC64as_T4_v3": (("eastus",), True, 4),
    "Standard_NV36ads_A10_v5": (("westeurope",), True, 1),
    "Standard_NC24ads_A100_v4": (("eastus", "westeurope"), False, 1),
    "Standard_D4s_v5": (("eastus",), True, 0),  # no GPU: never offered
}
# (size, region) -> (pay-as-you-go, Spot) USD per hour, as the Retail Prices API lists them.
PRICE_TABLE = {
    ("Standard_NC4as_T4_v3", "eastus"): (0.526, 0.0526),
    ("Standard_NC4as_T4_v3", "westeurope"): (0.59, 0.059),
    ("Standard_NC64as_T4_v3", "eastus"): (4.352, 0.4352),
    ("Standard_NV36ads_A10_v5", "westeurope"): (3.52, 0.704),
    ("Standard_NC24ads_A100_v4", "eastus"): (3.673, 0.7346),
    ("Standard_NC24ads_A100_v4", "westeurope"): (4.01, 0.802),
}


def sku(size: str, regions: tuple[str, ...], spot: bool, gpus: int) -> dict[str, Any]:
    """A ``resource_skus`` entry as ARM lists one (resourceType, locations, capabilities)."""
    capabilities = [{"name": "vCPUs", "value": "4"}, {"name": "GPUs", "value": str(gpus)},
                    {"name": "LowPriorityCapable", "value": str(spot)}]
    return {"resourceType": "virtualMachines", "name": size, "tier": "Standard",
            "size": size.removeprefix("Standard_"), "locations": list(regions),
            "locationInfo": [{"location": r, "zones": ["1", "2", "3"]} for r in regions],
            "capabilities": [c for c in capabilities if gpus or c["name"] != "GPUs"],
            "restrictions": []}


def price_items(size: str, region: str, on_demand: float, spot: float) -> list[dict[str, Any]]:
    """A size's items in one region: Linux, Linux Spot, Windows and Low Priority."""
    meter = size.removeprefix("Standard_").replace("_", " ")
    series = f"Virtual Machines {size.split('_')[1]} Series"
    common = {"currencyCode": "USD", "armRegionName": region, "armSkuName": size,
              "serviceName": "Virtual Machines", "type": "Consumption",
              "unitOfMeasure": "1 Hour", "effectiveStartDate": "2025-01-01T00:00:00Z",
              "isPrimaryMeterRegion": True}
    rows = [(meter, series, on_demand), (f"{meter} Spot", series, spot),
            (meter, f"{series} Windows", on_demand * 1.8),
            (f"{meter} Low Priority", series, spot * 0.9)]
    return [{**common, "meterName": name, "skuName": name, "productName": product,
             "retailPrice": price, "unitPrice": price} for name, product, price in rows]


SKUS = [sku(size, *row) for size, row in SIZE_TABLE.items()]
PRICES = [item for (size, region), (on_demand, spot) in PRICE_TABLE.items()
          for item in price_items(size, region, on_demand, spot)]
# What each error kind of the contract suite looks like at ARM.
KINDS: dict[str, tuple[int, str, str]] = {
    "quota": (409, "OperationNotAllowed", "Operation could not be completed as it results in "
              "exceeding approved standardNCASv3_T4Family Cores quota."),
    "capacity": (409, "SkuNotAvailable", "The requested VM size Standard_NC4as_T4_v3 is "
                 "currently not available in location 'eastus'."),
    "auth": (403, "AuthorizationFailed", "The client does not have authorization to perform "
             "action 'Microsoft.Compute/virtualMachines/write'."),
    "transient": (503, "ServiceUnavailable", "The service is temporarily unavailable."),
}


# ------------------------------------------------------------------ TLS

def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AIMA test CA")])

    def signed(subject: x509.Name, public: Any, *extensions: tuple[Any, bool]) -> Any:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = signed(ca_name, ca_key.public_key(), (x509.BasicConstraints(ca=True, path_length=0), True))
    cert = signed(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                  key.public_key(), (x509.SubjectAlternativeName(
                      [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


# ------------------------------------------------------------------ state


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Operation:
    vm: str
    # Polls (reads of the VM or the operation) before it is done.
    polls_left: int
    done: Callable[[], None]
    status: str = "InProgress"


@dataclass
class FakeAzure:
    """The state behind the server, with fault injection and a request log."""

    folder: Path
    skus: list[dict[str, Any]] = field(default_factory=lambda: json.loads(json.dumps(SKUS)))
    prices: list[dict[str, Any]] = field(default_factory=lambda: list(PRICES))
    # A long-running operation finishes after this many reads of its VM.
    settle_after: int = 1
    page_size: int = 2
    vms: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    _operations: dict[str, Operation] = field(default_factory=dict)
    _failures: list[tuple[int, str, str]] = field(default_factory=list)
    _hidden: dict[str, int] = field(default_factory=dict)
    _hide: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.ca, cert, key = make_ca(self.folder)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---------------------------------------------------------- hooks

    def fail_next(self, status: int, code: str, message: str = "") -> None:
        """The next ARM request (not sign-in, not prices) is answered with this error."""
        with self._lock:
            self._failures.append((status, code, message or f"{code} (injected)"))

    def fail_next_kind(self, kind: str) -> None:
        self.fail_next(*KINDS[kind])

    def hide_new_instances(self, n: int) -> None:
        """VMs created from now on are left out of the next ``n`` lists."""
        with self._lock:
            self._hide = n

    def restrict(self, size: str, region: str) -> None:
        """``size`` is NotAvailableForSubscription in ``region``."""
        for sku in self.skus:
            if sku["name"] == size:
                sku.setdefault("restrictions", []).append({
                    "type": "Location", "values": [region], "reasonCode":
                    "NotAvailableForSubscription",
                    "restrictionInfo": {"locations": [region], "zones": []}})

    def arm_requests(self, method: str = "", suffix: str = "") -> list[Request]:
        return [r for r in self.requests if "/subscriptions/" in r.path
                and (not method or r.method == method) and r.path.endswith(suffix)]

    # ---------------------------------------------------------- answers

    def answer(self, request: Request) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(request)
            path = request.path
            if path.startswith("/api/retail/prices"):
                return self._prices(request)
            if path == "/common/discovery/instance" or "/oauth2/" in path or \
                    path.endswith("/openid-configuration"):
                return self._entra(request)
            if "api-version" not in request.query:
                return _error(400, "MissingApiVersionParameter",
                              "The api-version query parameter (?api-version=) is required.")
            bearer = request.headers.get("authorization", "")
            if bearer.removeprefix("Bearer ") not in self.tokens:
                return _error(401, "InvalidAuthenticationToken",
                              "The access token is invalid.")
            if self._failures:
                status, code, message = self._failures.pop(0)
                return _error(status, code, message)
            return self._arm(request)

    def _arm(self, request: Request) -> tuple[int, dict[str, str], Any]:
        path = request.path
        if path == f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/skus":
            return self._skus(request)
        operation = OPERATION.match(path)
        if operation:
            return self._operation(operation["id"])
        match = VM_PATH.match(path)
        if not match or match["sub"] != SUBSCRIPTION:
            return _error(404, "NotFound", f"no route for {request.method} {path} here")
        if match["rg"].lower() != RESOURCE_GROUP.lower():
            return _error(404, "ResourceGroupNotFound",
                          f"Resource group '{match['rg']}' could not be found.")
        name, action = match["name"], match["action"]
        if match["role"]:
            return self._role(request, name)
        if name is None:
            return self._list(request)
        method = request.method
        if method == "PUT" and not action:
            return self._create(request, name)
        if method == "DELETE" and not action:
            return self._delete(name)
        vm = self.vms.get(name)
        if vm is None:
            return _error(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/"
                          f"virtualMachines/{name}' under resource group '{match['rg']}' was "
                          f"not found. For more details please go to "
                          f"https://aka.ms/ARMResourceNotFoundFix")
        if method == "GET":
            self._touch(name)
            vm = self.vms.get(name)
            if vm is None:  # its delete finished just now
                return self._arm(request)
            if action == "instanceView":
                return 200, {}, _view(vm)
            body = _public(vm)
            if request.query.get("$expand") == "instanceView":
                body["properties"]["instanceView"] = _view(vm)
            return 200, {}, body
        if method == "POST" and action in ("deallocate", "start"):
            return self._power(vm, action)
        return _error(405, "MethodNotAllowed", f"{method} {path}")

    def _create(self, request: Request, name: str) -> tuple[int, dict[str, str], Any]:
        body = request.body or {}
        properties = body.get("properties") or {}
        size = (properties.get("hardwareProfile") or {}).get("vmSize")
        region = body.get("location")
        if not size or not region:
            return _error(400, "InvalidParameter", "Required parameter 'location' or "
                          "'hardwareProfile.vmSize' is missing (null).")
        if name in self.vms:
            return _error(409, "OperationNotAllowed", f"VM {name} exists (this fake does "
                          f"not update VMs)")
        sku = next((s for s in self.skus if s["name"] == size
                    and region in s["locations"]), None)
        if sku is None or any(region in r["values"] for r in sku.get("restrictions", [])):
            return _error(409, "SkuNotAvailable", f"The requested VM size '{size}' is "
                          f"currently not available in location '{region}'.")
        vm_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                 f"Microsoft.Compute/virtualMachines/{name}")
        stored = {**body, "id": vm_id, "name": name, "type": "Microsoft.Compute/virtualMachines",
                  "properties": {**properties, "provisioningState": "Creating",
                                 "vmId": str(uuid.uuid4()),
                                 "timeCreated": dt.datetime.now(dt.UTC).isoformat()},
                  "_power": "starting"}
        if (body.get("identity") or {}).get("type") == "SystemAssigned":
            stored["identity"] = {"type": "SystemAssigned", "principalId": str(uuid.uuid4()),
                                  "tenantId": TENANT}
        self.vms[name] = stored
        if self._hide:
            self._hidden[name] = self._hide
        headers = self._start_operation(name, region, lambda: _settle(stored, "running"))
        return 201, headers, _public(stored)

    def _delete(self, name: str) -> tuple[int, dict[str, str], Any]:
        vm = self.vms.get(name)
        if vm is None:
            return 204, {}, None
        vm["properties"]["provisioningState"] = "Deleting"
        headers = self._start_operation(name, vm["location"],
                                        lambda: self.vms.pop(name, None))
        return 202, {**headers, "Location": headers["Azure-AsyncOperation"]}, None

    def _power(self, vm: dict[str, Any], action: str) -> tuple[int, dict[str, str], Any]:
        if vm["properties"]["provisioningState"] == "Deleting":
            return _error(409, "OperationNotAllowed", f"Operation '{action}' is not allowed "
                          f"since the VM is marked for deletion.")
        vm["_power"] = "deallocating" if action == "deallocate" else "starting"
        target = "deallocated" if action == "deallocate" else "running"
        headers = self._start_operation(vm["name"], vm["location"],
                                        lambda: _settle(vm, target))
        return 202, {**headers, "Location": headers["Azure-AsyncOperation"]}, None

    def _start_operation(self, name: str, region: str,
                         done: Callable[[], None]) -> dict[str, str]:
        op_id = str(uuid.uuid4())
        self._operations[op_id] = Operation(name, self.settle_after, done)
        url = (f"{self.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/"
               f"locations/{region}/operations/{op_id}?api-version=2026-04-01")
        return {"Azure-AsyncOperation": url, "Retry-After": "0"}

    def _touch(self, name: str) -> None:
        """A read of a VM moves its operations on."""
        for operation in list(self._operations.values()):
            if operation.vm == name and operation.status == "InProgress":
                self._advance(operation)

    def _advance(self, operation: Operation) -> None:
        operation.polls_left -= 1
        if operation.polls_left <= 0:
            operation.status = "Succeeded"
            operation.done()

    def settle(self) -> None:
        """Every operation in progress finishes now."""
        with self._lock:
            for operation in list(self._operations.values()):
                if operation.status == "InProgress":
                    operation.status = "Succeeded"
                    operation.done()

    def _operation(self, op_id: str) -> tuple[int, dict[str, str], Any]:
        operation = self._operations.get(op_id)
        if operation is None:
            return _error(404, "NotFound", f"operation {op_id}")
        if operation.status == "InProgress":
            self._advance(operation)
        return 200, {}, {"name": op_id, "status": operation.status,
                         "startTime": dt.datetime.now(dt.UTC).isoformat()}

    def _list(self, request: Request) -> tuple[int, dict[str, str], Any]:
        visible = []
        for name, vm in self.vms.items():
            if self._hidden.get(name, 0) > 0:
                self._hidden[name] -= 1
                continue
            visible.append(_public(vm))
        return self._page(request, visible, "value", "nextLink")

    def _skus(self, request: Request) -> tuple[int, dict[str, str], Any]:
        wanted = re.fullmatch(r"location eq '([^']+)'", request.query.get("$filter", ""))
        skus = [s for s in self.skus if not wanted or wanted[1] in s["locations"]]
        return 200, {}, {"value": skus}

    def _role(self, request: Request, name: str | None) -> tuple[int, dict[str, str], Any]:
        if request.method != "PUT" or name not in self.vms:
            return _error(404, "ResourceNotFound", f"no VM {name}")
        self.roles[request.path] = request.body
        return 201, {}, {"id": request.path, "properties": request.body["properties"]}

    def _page(self, request: Request, items: list[Any], key: str,
              next_key: str) -> tuple[int, dict[str, str], Any]:
        skip = int(request.query.get("$skip", "0"))
        page = items[skip:skip + self.page_size]
        answer: dict[str, Any] = {key: page}
        if skip + self.page_size < len(items):
            query = "&".join(f"{k}={v}" for k, v in request.query.items() if k != "$skip")
            answer[next_key] = (f"{self.url}{request.path}?{query}&$skip="
                                f"{skip + self.page_size}")
        return 200, {}, answer

    # ---------------------------------------------------------- Entra ID, prices

    def _entra(self, request: Request) -> tuple[int, dict[str, str], Any]:
        base = self.url
        if request.path == "/common/discovery/instance":
            return 200, {}, {"tenant_discovery_endpoint":
                             f"{base}/{TENANT}/v2.0/.well-known/openid-configuration"}
        tenant = request.path.strip("/").split("/")[0]
        if tenant != TENANT:
            return 400, {}, {"error": "invalid_tenant", "error_description":
                             f"AADSTS90002: Tenant '{tenant}' not found."}
        if request.path.endswith("/openid-configuration"):
            return 200, {}, {
                "issuer": f"{base}/{TENANT}/v2.0",
                "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"]}
        form = request.body or {}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {}, {"error": "invalid_client", "error_description":
                             "AADSTS7000215: Invalid client secret provided.",
                             "error_codes": [7000215]}
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {}, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": token}

    def _prices(self, request: Request) -> tuple[int, dict[str, str], Any]:
        terms = dict(re.findall(r"(\w+) eq '([^']*)'", request.query.get("$filter", "")))
        # The filter's priceType is the items' "type".
        if "priceType" in terms:
            terms["type"] = terms.pop("priceType")
        items = [item for item in self.prices
                 if all(str(item.get(k)) == v for k, v in terms.items())]
        status, headers, page = self._page(request, items, "Items", "NextPageLink")
        page.update(BillingCurrency="USD", CustomerEntityId="Default",
                    CustomerEntityType="Retail", Count=len(page["Items"]))
        return status, headers, page


def _settle(vm: dict[str, Any], power: str) -> None:
    vm["_power"] = power
    vm["properties"]["provisioningState"] = "Succeeded"


def _public(vm: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps({k: v for k, v in vm.items() if not k.startswith("_")}))
    # Azure never answers with the secrets it was given.
    os_profile = body["properties"].get("osProfile") or {}
    os_profile.pop("customData", None)
    os_profile.pop("adminPassword", None)
    return body


def _view(vm: dict[str, Any]) -> dict[str, Any]:
    provisioning = vm["properties"]["provisioningState"]
    statuses = [{"code": f"ProvisioningState/{provisioning.lower()}", "level": "Info",
                 "displayStatus": f"Provisioning {provisioning.lower()}"}]
    if vm.get("_power"):
        statuses.append({"code": f"PowerState/{vm['_power']}", "level": "Info",
                         "displayStatus": f"VM {vm['_power']}"})
    return {"computerName": vm["name"], "osName": "ubuntu", "statuses": statuses}


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {"x-ms-failure-cause": "gateway"}, {"error": {"code": code,
                                                                  "message": message}}


def _handler(fake: FakeAzure) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            kind = self.headers.get("Content-Type", "")
            if raw and "json" in kind:
                body: Any = json.loads(raw)
            elif raw:
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, answer = fake.answer(
                Request(self.command, split.path, query, headers, body))
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read fake.requests, not stderr

    return Handler


def running() -> Iterator[FakeAzure]:
    """For a pytest fixture: ``yield from running()``."""
    with tempfile.TemporaryDirectory() as folder:
        fake = FakeAzure(Path(folder))
        try:
            yield fake
        finally:
            fake.close()


def azure_provider(fake: FakeAzure, **settings: str) -> AzureProvider:
    """The real provider, signed in with a service principal at the fake."""
    return AzureProvider({
        "subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
        "tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "authority_host": fake.url, "arm_endpoint": fake.url,
        "prices_endpoint": f"{fake.url}/api/retail/prices", "ca_bundle": str(fake.ca),
        "regions": "eastus,westeurope", "subnet_id": SUBNET, "image": "ghcr.io/aima/agent:1.4",
        # One try: the tests inject each failure once.
        "retry_total": "0", **settings})
