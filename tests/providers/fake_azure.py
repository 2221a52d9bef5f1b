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

Entra ID, the Retail Prices API and the test CA: ``fake_azure_edges``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from providers.azure import AzureProvider
from tests.providers import fake_azure_edges as edges
from tests.providers.fake_azure_edges import Request

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
RESOURCE_GROUP = "aima-test"
SUBNET = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
          f"Microsoft.Network/virtualNetworks/aima/subnets/agents")
VM_PATH = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                     r"Microsoft\.Compute/virtualMachines(?:/(?P<name>[^/]+))?"
                     r"(?:/(?P<action>deallocate|start|instanceView))?"
                     r"(?P<role>/providers/Microsoft\.Authorization/roleAssignments/[^/]+)?\Z")
OPERATION = re.compile(r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/[^/]+/"
                       r"operations/(?P<id>[^/]+)\Z")
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


# ------------------------------------------------------------------ state


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
    skus: list[dict[str, Any]] = field(default_factory=edges.skus)
    prices: list[dict[str, Any]] = field(default_factory=edges.price_list)
    # Role assignments are refused (the service principal may not grant roles).
    refuse_roles: bool = False
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
        self.ca, cert, key = edges.make_ca(self.folder)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), edges.handler(self.answer))
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
                return edges.prices(self.prices, request, self._page)
            if edges.is_entra(path):
                return edges.entra(self.url, self.tokens, request)
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
                                  "tenantId": edges.TENANT}
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
        if self.refuse_roles:
            return _error(403, "AuthorizationFailed", "The client does not have authorization "
                          "to perform action 'Microsoft.Authorization/roleAssignments/write'.")
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
        "tenant_id": edges.TENANT, "client_id": edges.CLIENT_ID,
        "client_secret": edges.CLIENT_SECRET,
        "authority_host": fake.url, "arm_endpoint": fake.url,
        "prices_endpoint": f"{fake.url}/api/retail/prices", "ca_bundle": str(fake.ca),
        "regions": "eastus,westeurope", "subnet_id": SUBNET, "image": "ghcr.io/aima/agent:1.4",
        # One try: the tests inject each failure once.
        "retry_total": "0", **settings})
