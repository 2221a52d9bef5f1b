"""A local stand-in for RunPod's GraphQL API, answering what the ``runpod`` SDK
sends the way RunPod answers it, with state, fault injection and a record of
every request.

What the SDK sends (runpod 1.11.0, ``runpod/api/``; SDK call in
``ctl_commands.py`` -> GraphQL it POSTs, built in):

- ``get_user()`` -> ``query myself { myself { id pubKey networkVolumes {..} } }``
  (``queries/user.py``)
- ``get_gpus()`` -> ``query GpuTypes { gpuTypes { id displayName memoryInGb } }``
  (``queries/gpus.py``)
- ``get_gpu(id, n)`` -> ``gpuTypes(input: {id: ..}) { .. securePrice communityPrice
  secureSpotPrice communitySpotPrice lowestPrice(input: {gpuCount: n}) { minimumBidPrice
  uninterruptablePrice } }`` (``queries/gpus.py``)
- ``get_pods()`` -> ``myself { pods { id name env desiredStatus costPerHr podType gpuCount
  runtime { ports {..} } machine { gpuDisplayName } .. } }`` (``queries/pods.py``)
- ``get_pod(id)`` -> ``pod(input: {podId: ..}) { ..the same fields.. }`` (``queries/pods.py``)
- ``create_pod(..)`` -> ``get_gpu(id)`` first, then ``mutation { podFindAndDeployOnDemand(
  input: {name imageName cloudType gpuTypeId gpuCount containerDiskInGb dockerArgs
  env: [{key value}] ..}) { id imageName env machineId machine { podHostId } } }``
  (``mutations/pods.py``)
- ``stop_pod(id)`` -> ``podStop(input: {podId}) { id desiredStatus }``
- ``resume_pod(id, n)`` -> ``podResume(input: {podId, gpuCount}) {..}``
- ``terminate_pod(id)`` -> ``podTerminate(input: {podId})``, a null scalar
- no SDK function, sent with its ``run_graphql_query``: ``podRentInterruptable(input:
  {bidPerGpu ..})`` and ``podBidResume(input: {podId bidPerGpu gpuCount})``
  (docs.runpod.io/sdks/graphql/manage-pods, graphql-spec.runpod.io; runpod-python#327
  asks for spot in the SDK)

Transport (``graphql.py`` ``run_graphql_query``): POST to
``$RUNPOD_API_BASE_URL/graphql`` (default ``https://api.runpod.io``, read from
the environment on every call) with ``{"query": text}`` and no variables, the
key as ``Authorization: Bearer KEY``, a 30 s timeout. HTTP 401 raises
``AuthenticationError``; a body with ``errors`` raises ``QueryError`` with the
first message; any other answer is returned parsed, so a 5xx or 429 page that
is not JSON surfaces as requests' ``JSONDecodeError``. Values are pasted into
the query text unescaped: a caller must escape strings itself.

What the server does here, and where that comes from:

- The key is accepted as the Bearer header (the SDK) or ``?api_key=`` (the
  docs' curl examples, graphql-spec.runpod.io v1.0); otherwise HTTP 401.
- Schema checks with graphql-js' wording and HTTP 400: unknown fields and
  arguments, unknown or missing input fields, strings where enums belong. Types,
  fields and enums follow graphql-spec.runpod.io (``PodStatus``: CREATED,
  RUNNING, RESTARTING, EXITED, PAUSED, DEAD, TERMINATED; ``PodType``:
  INTERRUPTABLE, RESERVED, BID, BACKGROUND).
- ``lowestPrice(input: {gpuCount, secureCloud})``: ``secureCloud: false`` is the
  community cloud, ``stockStatus`` null means none free (as dstackai/gpuhunt
  reads it); prices are per GPU.
- No capacity: "There are no longer any instances available with the requested
  specifications. Please refresh and try again." (runpod-python users,
  mlabonne/llm-autoeval#3; dstack#1740 and runpodctl#267 show later wordings).
- A server failure: "Something went wrong. Please try again later or contact
  support." with code INTERNAL_SERVER_ERROR (runpod-python#239).
- ``podResume`` of a spot pod: "Cannot resume a spot pod as an on demand pod."
  (runpodctl#156).
- Modelled, wording not published: a too-low balance, a bid under the lowest
  price (answered as no capacity), mutations on an unknown pod ("Pod not
  found."), ``pod`` of an unknown id (null), terminated pods vanishing from
  ``myself.pods``.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.providers.fake_server import FakeServer

NO_CAPACITY = ("There are no longer any instances available with the requested "
               "specifications. Please refresh and try again.")
SERVER_ERROR = "Something went wrong. Please try again later or contact support."
LOW_BALANCE = "Insufficient balance: add funds to your account to deploy this pod."
SPOT_AS_ON_DEMAND = "Cannot resume a spot pod as an on demand pod."
POD_NOT_FOUND = "Pod not found."
SPOT_MUTATIONS = frozenset({"podRentInterruptable", "podBidResume"})
BAD_GATEWAY = ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
               "Gateway</h1></center><hr><center>cloudflare</center></body></html>")

# ------------------------------------------------------------------ schema

# type -> field -> type, "[T]" for lists; names not listed here are scalars or enums.
OBJECTS: dict[str, dict[str, str]] = {
    "Query": {"gpuTypes": "[GpuType]", "myself": "User", "pod": "Pod"},
    "Mutation": {"podFindAndDeployOnDemand": "Pod", "podRentInterruptable": "Pod",
                 "podStop": "Pod", "podResume": "Pod", "podBidResume": "Pod",
                 "podTerminate": "Void"},
    "GpuType": {"id": "String", "displayName": "String", "manufacturer": "String",
                "memoryInGb": "Int", "cudaCores": "Int", "maxGpuCount": "Int",
                "maxGpuCountCommunityCloud": "Int", "maxGpuCountSecureCloud": "Int",
                "minPodGpuCount": "Int", "secureCloud": "Boolean", "communityCloud": "Boolean",
                "securePrice": "Float", "communityPrice": "Float", "oneMonthPrice": "Float",
                "threeMonthPrice": "Float", "sixMonthPrice": "Float", "oneWeekPrice": "Float",
                "communitySpotPrice": "Float", "secureSpotPrice": "Float",
                "lowestPrice": "LowestPrice"},
    "LowestPrice": {"gpuName": "String", "gpuTypeId": "String", "minimumBidPrice": "Float",
                    "uninterruptablePrice": "Float", "minMemory": "Int", "minVcpu": "Int",
                    "rentalPercentage": "Float", "rentedCount": "Int", "totalCount": "Int",
                    "stockStatus": "String", "countryCode": "String",
                    "supportPublicIp": "Boolean"},
    "User": {"id": "String", "pubKey": "String", "networkVolumes": "[NetworkVolume]",
             "pods": "[Pod]", "clientBalance": "Float", "spendLimit": "Int",
             "currentSpendPerHr": "Float", "underBalance": "Boolean"},
    "NetworkVolume": {"id": "String", "name": "String", "size": "Int",
                      "dataCenterId": "String"},
    "Pod": {"id": "String", "name": "String", "imageName": "String", "env": "[String]",
            "dockerArgs": "String", "dockerId": "String", "containerDiskInGb": "Int",
            "volumeInGb": "Float", "volumeMountPath": "String", "costPerHr": "Float",
            "adjustedCostPerHr": "Float", "desiredStatus": "PodStatus", "podType": "PodType",
            "gpuCount": "Int", "vcpuCount": "Float", "memoryInGb": "Float",
            "lastStatusChange": "String", "lastStartedAt": "String", "createdAt": "String",
            "machineId": "String", "port": "Int", "ports": "String", "uptimeSeconds": "Int",
            "lowestBidPriceToResume": "Float", "templateId": "String",
            "runtime": "PodRuntime", "machine": "PodMachineInfo"},
    "PodRuntime": {"uptimeInSeconds": "Int", "ports": "[PodRuntimePorts]"},
    "PodRuntimePorts": {"ip": "String", "isIpPublic": "Boolean", "privatePort": "Int",
                        "publicPort": "Int", "type": "String"},
    "PodMachineInfo": {"id": "String", "podHostId": "String", "gpuDisplayName": "String",
                       "gpuTypeId": "String", "secureCloud": "Boolean",
                       "dataCenterId": "String", "location": "String"},
}
ENUMS: dict[str, frozenset[str]] = {
    "CloudTypeEnum": frozenset({"ALL", "SECURE", "COMMUNITY"}),
    "ComputeType": frozenset({"CPU", "GPU"}),
    "PodStatus": frozenset({"CREATED", "RUNNING", "RESTARTING", "EXITED", "PAUSED", "DEAD",
                            "TERMINATED"}),
    "PodType": frozenset({"INTERRUPTABLE", "RESERVED", "BID", "BACKGROUND"}),
}
_DEPLOY_FIELDS = {
    "name": "String", "imageName": "String", "cloudType": "CloudTypeEnum",
    "gpuTypeId": "String", "gpuCount": "Int", "volumeInGb": "Int",
    "containerDiskInGb": "Int", "minVcpuCount": "Int", "minMemoryInGb": "Int",
    "dockerArgs": "String", "ports": "String", "volumeMountPath": "String",
    "env": "[EnvironmentVariableInput]", "templateId": "String", "networkVolumeId": "String",
    "dataCenterId": "String", "countryCode": "String", "supportPublicIp": "Boolean",
    "startSsh": "Boolean", "startJupyter": "Boolean", "allowedCudaVersions": "[String]",
    "cudaVersion": "String", "minDownload": "Int", "minUpload": "Int", "minDisk": "Int",
    "stopAfter": "String", "terminateAfter": "String", "volumeKey": "String", "port": "Int",
}
INPUTS: dict[str, dict[str, str]] = {
    "GpuTypeFilter": {"id": "String", "ids": "[String]"},
    "PodFilter": {"podId": "String!"},
    "GpuLowestPriceInput": {
        "gpuCount": "Int", "secureCloud": "Boolean", "dataCenterId": "String",
        "countryCode": "String", "minDisk": "Int", "minMemoryInGb": "Int", "minVcpuCount": "Int",
        "minDownload": "Int", "minUpload": "Int", "supportPublicIp": "Boolean",
        "includeAiApi": "Boolean", "totalDisk": "Int", "cudaVersion": "String",
        "allowedCudaVersions": "[String]"},
    "PodFindAndDeployOnDemandInput": _DEPLOY_FIELDS,
    "PodRentInterruptableInput": {**_DEPLOY_FIELDS, "bidPerGpu": "Float!"},
    "PodStopInput": {"podId": "String!", "incrementVersion": "Boolean"},
    "PodResumeInput": {"podId": "String!", "gpuCount": "Int", "syncMachine": "Boolean",
                       "computeType": "ComputeType"},
    "PodBidResumeInput": {"podId": "String!", "bidPerGpu": "Float!", "gpuCount": "Int"},
    "PodTerminateInput": {"podId": "String!"},
    "EnvironmentVariableInput": {"key": "String!", "value": "String!"},
}
ARGUMENTS: dict[tuple[str, str], dict[str, str]] = {
    ("Query", "gpuTypes"): {"input": "GpuTypeFilter"},
    ("Query", "pod"): {"input": "PodFilter!"},
    ("GpuType", "lowestPrice"): {"input": "GpuLowestPriceInput"},
    ("Mutation", "podFindAndDeployOnDemand"): {"input": "PodFindAndDeployOnDemandInput!"},
    ("Mutation", "podRentInterruptable"): {"input": "PodRentInterruptableInput!"},
    ("Mutation", "podStop"): {"input": "PodStopInput!"},
    ("Mutation", "podResume"): {"input": "PodResumeInput!"},
    ("Mutation", "podBidResume"): {"input": "PodBidResumeInput!"},
    ("Mutation", "podTerminate"): {"input": "PodTerminateInput!"},
}


class Enum(str):
    """An enum value as written in a query: bare, not quoted."""


class GraphQLError(Exception):
    def __init__(self, message: str, code: str = "GRAPHQL_VALIDATION_FAILED"):
        super().__init__(message)
        self.message = message
        self.code = code


# ------------------------------------------------------------------ parsing

_TOKEN = re.compile(r'''
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\[\]{}:=@|])
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
''', re.VERBOSE)


@dataclass
class Selection:
    name: str
    alias: str
    arguments: dict[str, Any]
    selections: list[Selection]


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise GraphQLError(f"Syntax Error: Unexpected character: {text[position]!r}.",
                               "GRAPHQL_PARSE_FAILED")
        kind = match.lastgroup or ""
        if kind != "skip":
            found.append((kind, match.group()))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("eof", "<EOF>")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind):
            raise GraphQLError(f"Syntax Error: Expected {value or kind}, found {token}.",
                               "GRAPHQL_PARSE_FAILED")
        self.at += 1
        return token

    def document(self) -> tuple[str, list[Selection]]:
        kind = "query"
        if self.peek()[1] in ("query", "mutation", "subscription"):
            kind = self.take()
            if self.peek()[0] == "name":
                self.take()
            if self.peek()[1] == "(":
                raise GraphQLError("this fake does not take variables: the SDK never sends any",
                                   "GRAPHQL_PARSE_FAILED")
        selections = self.selection_set()
        if self.peek()[0] != "eof":
            raise GraphQLError("this fake answers one operation per document",
                               "GRAPHQL_PARSE_FAILED")
        return kind, selections

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections = []
        while self.peek()[1] != "}":
            if self.peek()[0] == "spread":
                raise GraphQLError("this fake does not take fragments", "GRAPHQL_PARSE_FAILED")
            name = self.take(kind="name")
            alias = name
            if self.peek()[1] == ":":
                self.take(":")
                name = self.take(kind="name")
            arguments = {}
            if self.peek()[1] == "(":
                self.take("(")
                while self.peek()[1] != ")":
                    key = self.take(kind="name")
                    self.take(":")
                    arguments[key] = self.value()
                self.take(")")
            children = self.selection_set() if self.peek()[1] == "{" else []
            selections.append(Selection(name, alias, arguments, children))
        self.take("}")
        return selections

    def value(self) -> Any:
        kind, token = self.peek()
        if kind == "string":
            self.take()
            # GraphQL's string escapes are JSON's.
            return json.loads(token, strict=False)
        if kind == "number":
            self.take()
            return float(token) if any(c in token for c in ".eE") else int(token)
        if token == "[":
            self.take("[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            self.take("{")
            fields = {}
            while self.peek()[1] != "}":
                key = self.take(kind="name")
                self.take(":")
                fields[key] = self.value()
            self.take("}")
            return fields
        if token == "$":
            raise GraphQLError("this fake does not take variables", "GRAPHQL_PARSE_FAILED")
        if kind == "name":
            self.take()
            return {"true": True, "false": False, "null": None}.get(token, Enum(token))
        raise GraphQLError(f"Syntax Error: Unexpected {token}.", "GRAPHQL_PARSE_FAILED")


def parse(text: str) -> tuple[str, list[Selection]]:
    return _Parser(text).document()


# ------------------------------------------------------------------ validation

def _show(value: Any) -> str:
    return str(value) if isinstance(value, Enum) else json.dumps(value)


def _check_value(value: Any, type_name: str, where: str) -> None:
    required = type_name.endswith("!")
    base = type_name.rstrip("!")
    if value is None:
        if required:
            raise GraphQLError(f'Expected value of type "{type_name}", found null.')
        return
    if base.startswith("["):
        for item in value if isinstance(value, list) else [value]:
            _check_value(item, base[1:-1], where)
        return
    if base in INPUTS:
        if not isinstance(value, dict):
            raise GraphQLError(f'Expected value of type "{type_name}", found {_show(value)}.')
        for key in value:
            if key not in INPUTS[base]:
                raise GraphQLError(f'Field "{key}" is not defined by type "{base}".')
        for key, field_type in INPUTS[base].items():
            if field_type.endswith("!") and key not in value:
                raise GraphQLError(f'Field "{base}.{key}" of required type "{field_type}" '
                                   "was not provided.")
            if key in value:
                _check_value(value[key], field_type, f"{where}.{key}")
        return
    if base in ENUMS:
        if not isinstance(value, Enum):
            raise GraphQLError(f'Enum "{base}" cannot represent non-enum value: {_show(value)}.')
        if value not in ENUMS[base]:
            raise GraphQLError(f'Value "{value}" does not exist in "{base}" enum.')
        return
    valid = {
        "String": isinstance(value, str) and not isinstance(value, Enum),
        "Int": isinstance(value, int) and not isinstance(value, bool),
        "Float": isinstance(value, int | float) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
    }[base]
    if not valid:
        raise GraphQLError(f"{base} cannot represent value: {_show(value)}")


def validate(parent: str, selections: list[Selection]) -> None:
    """What a GraphQL server checks before it runs anything."""
    for selection in selections:
        if selection.name == "__typename":
            continue
        fields = OBJECTS[parent]
        if selection.name not in fields:
            raise GraphQLError(f'Cannot query field "{selection.name}" on type "{parent}".')
        allowed = ARGUMENTS.get((parent, selection.name), {})
        for key in selection.arguments:
            if key not in allowed:
                raise GraphQLError(f'Unknown argument "{key}" on field '
                                   f'"{parent}.{selection.name}".')
        for key, type_name in allowed.items():
            _check_value(selection.arguments.get(key), type_name, key)
        child = fields[selection.name].strip("[]")
        if child in OBJECTS:
            if not selection.selections:
                raise GraphQLError(f'Field "{selection.name}" of type "{fields[selection.name]}" '
                                   "must have a selection of subfields.")
            validate(child, selection.selections)
        elif selection.selections:
            raise GraphQLError(f'Field "{selection.name}" must not have a selection since type '
                               f'"{fields[selection.name]}" has no subfields.')


def project(value: Any, type_name: str, selections: list[Selection]) -> Any:
    """Shape a resolved value the way the query asked, calling fields that take arguments."""
    if value is None:
        return None
    if isinstance(value, list):
        return [project(item, type_name, selections) for item in value]
    shaped = {}
    for selection in selections:
        if selection.name == "__typename":
            shaped[selection.alias] = type_name
            continue
        raw = value.get(selection.name)
        if callable(raw):
            raw = raw(selection.arguments)
        child = OBJECTS[type_name][selection.name].strip("[]")
        shaped[selection.alias] = (project(raw, child, selection.selections)
                                   if child in OBJECTS else raw)
    return shaped


# ------------------------------------------------------------------ state

@dataclass
class GpuType:
    id: str
    display_name: str
    memory_gb: int
    # Per GPU and hour; None: that cloud does not offer the type.
    secure_price: float | None
    secure_spot: float | None
    community_price: float | None
    community_spot: float | None
    max_gpu_count: int = 8
    # Per cloud ("SECURE", "COMMUNITY"): "High", "Medium", "Low", or None for none free.
    stock: dict[str, str | None] = field(default_factory=lambda: {
        "SECURE": "High", "COMMUNITY": "High"})

    def prices(self, cloud: str) -> tuple[float | None, float | None]:
        if cloud == "SECURE":
            return self.secure_price, self.secure_spot
        return self.community_price, self.community_spot

    def free(self, cloud: str, gpu_count: int) -> bool:
        return (self.prices(cloud)[0] is not None and self.stock.get(cloud) is not None
                and gpu_count <= self.max_gpu_count)


def seed_gpu_types() -> list[GpuType]:
    """Modelled on shared/data/prices/runpod.csv (A100 80GB secure 1.64, spot
    1.19; A100 SXM secure 1.89, no spot) and RunPod's list prices."""
    return [
        GpuType("NVIDIA A100 80GB PCIe", "A100 PCIe", 80, 1.64, 1.19, None, None),
        GpuType("NVIDIA A100-SXM4-80GB", "A100 SXM", 80, 1.89, None, None, None),
        GpuType("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.79, 0.49, 0.69, 0.34),
        GpuType("NVIDIA RTX A6000", "RTX A6000", 48, 0.76, 0.49, 0.49, 0.25),
    ]


@dataclass(frozen=True)
class Recorded:
    """One POST as the fake received it."""

    kind: str  # "query" or "mutation"; "" when it never got that far
    fields: tuple[str, ...]  # root fields, e.g. ("podFindAndDeployOnDemand",)
    arguments: dict[str, dict[str, Any]]  # root field -> its arguments
    query: str
    auth: str  # "bearer", "query-string" or "none"
    status: int


def _pod_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(14))


class FakeRunPod(FakeServer):
    """``with FakeRunPod() as fake:`` serves on ``fake.url`` until the block ends."""

    def __init__(self, api_key: str = "rpa_FAKE0TEST0KEY0123456789"):
        self.api_key = api_key
        self.gpu_types: dict[str, GpuType] = {gpu.id: gpu for gpu in seed_gpu_types()}
        self.pods: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.balance = 100.0
        # False: new pods stay without a runtime (pulling their image) until mark_running.
        self.boot_at_once = True
        # True: spot pods are gone from the API, as RunPod announced in 2026 (runpodctl#267).
        self.spot_removed = False
        # (status, content type, body, root field it waits for; "" for any request)
        self._faults: list[tuple[int, str, str, str]] = []
        # Pods created from now on stay out of this many listings each.
        self._hide_new = 0
        self._hidden: dict[str, int] = {}
        self._lock = threading.RLock()
        super().__init__(_handler(self))

    # ---------------------------------------------------------- test controls

    def fail_next(self, count: int = 1, status: int = 500, body: str | None = None,
                  field: str = "") -> None:
        """Answer the next ``count`` requests (that ask for the root ``field``, if
        given) with ``status``, before any auth check, as a gateway or an
        overloaded server does."""
        if body is None:
            body = {500: json.dumps({"errors": [{"message": SERVER_ERROR, "extensions": {
                "code": "INTERNAL_SERVER_ERROR"}}]}),
                    429: "Too Many Requests"}.get(status, BAD_GATEWAY)
        content_type = "application/json" if body.startswith("{") else "text/html"
        with self._lock:
            self._faults.extend([(status, content_type, body, field)] * count)

    def refuse_next(self, field: str, message: str) -> None:
        """The next request for ``field`` is refused the way RunPod refuses a
        mutation: HTTP 200 with ``errors`` and the field null."""
        body = json.dumps({"errors": [{"message": message, "path": [field], "extensions": {
            "code": "INTERNAL_SERVER_ERROR"}}], "data": {field: None}})
        self.fail_next(status=200, body=body, field=field)

    def hide_new_instances(self, listings: int) -> None:
        """Pods created from now on are missing from the next ``listings``
        listings (``myself { pods }``) after their creation, as an eventually
        consistent listing leaves out a just-created pod (SkyPilot PR 4443)."""
        with self._lock:
            self._hide_new = listings

    def exhaust(self, gpu_type_id: str, cloud: str | None = None) -> None:
        """No machine of that type is free any more (in one cloud, or both)."""
        with self._lock:
            for name in [cloud] if cloud else ["SECURE", "COMMUNITY"]:
                self.gpu_types[gpu_type_id].stock[name] = None

    def add_pod(self, name: str, env: dict[str, str] | None = None) -> str:
        """A pod someone started by hand in the same account."""
        with self._lock:
            gpu = self.gpu_types["NVIDIA GeForce RTX 4090"]
            return self._create(gpu, "COMMUNITY", {"name": name, "imageName": "runpod/base",
                                                   "gpuCount": 1, "env": [
                {"key": k, "value": v} for k, v in (env or {}).items()]}, None)["id"]

    def set_status(self, pod_id: str, status: str, runtime: bool | None = None) -> None:
        with self._lock:
            pod = self.pods[pod_id]
            pod["desiredStatus"] = status
            if runtime is not None:
                pod["runtime"] = _runtime() if runtime else None

    def interrupt(self, pod_id: str) -> None:
        """A spot pod outbid: RunPod stops it."""
        self.set_status(pod_id, "EXITED", runtime=False)

    def mark_running(self, pod_id: str) -> None:
        self.set_status(pod_id, "RUNNING", runtime=True)

    def calls(self, root_field: str) -> list[dict[str, Any]]:
        """The arguments of every request that asked for ``root_field``, oldest first."""
        return [r.arguments[root_field] for r in self.requests if root_field in r.fields]

    def fields_asked(self) -> list[str]:
        return [name for r in self.requests for name in r.fields]

    # ---------------------------------------------------------- serving

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, str]:
        url = urlsplit(path)
        auth = "none"
        key = ""
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            auth, key = "bearer", bearer[7:].strip()
        elif "api_key" in parse_qs(url.query):
            auth, key = "query-string", parse_qs(url.query)["api_key"][0]
        text = ""
        with contextlib.suppress(ValueError, AttributeError):
            text = json.loads(body or b"{}").get("query", "")
        with self._lock:
            fault = next((f for f in self._faults if not f[3] or f[3] in text), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            self._record(text, auth, fault[0])
            return fault[:3]
        if url.path != "/graphql":
            self._record(text, auth, 404)
            return 404, "text/plain", "Not Found"
        if key != self.api_key:
            self._record(text, auth, 401)
            return 401, "application/json", json.dumps({"errors": [{"message": "Unauthorized"}]})
        try:
            kind, selections = parse(text)
        except GraphQLError as error:
            self._record(text, auth, 400)
            return _refusal(error)
        root = "Mutation" if kind == "mutation" else "Query"
        try:
            for selection in selections:
                if self.spot_removed and selection.name in SPOT_MUTATIONS:
                    raise GraphQLError(f'Cannot query field "{selection.name}" on type '
                                       f'"{root}".')
            validate(root, selections)
        except GraphQLError as error:
            self._record(text, auth, 400, kind, selections)
            return _refusal(error)
        self._record(text, auth, 200, kind, selections)
        return 200, "application/json", json.dumps(self._execute(root, selections))

    def _record(self, text: str, auth: str, status: int, kind: str = "",
                selections: list[Selection] | None = None) -> None:
        selections = selections or []
        with self._lock:
            self.requests.append(Recorded(
                kind=kind, fields=tuple(s.name for s in selections),
                arguments={s.name: s.arguments for s in selections}, query=text, auth=auth,
                status=status))

    def _execute(self, root: str, selections: list[Selection]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        errors = []
        for selection in selections:
            resolver = getattr(self, f"_{selection.name}")
            try:
                with self._lock:
                    value = resolver(selection.arguments.get("input") or {})
                child = OBJECTS[root][selection.name].strip("[]")
                data[selection.alias] = (project(value, child, selection.selections)
                                         if child in OBJECTS else value)
            except GraphQLError as error:
                data[selection.alias] = None
                errors.append({"message": error.message, "path": [selection.alias],
                               "extensions": {"code": error.code}})
        return {"errors": errors, "data": data} if errors else {"data": data}

    # ---------------------------------------------------------- queries

    def _gpuTypes(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = set(filters.get("ids") or []) | ({filters["id"]} if filters.get("id") else set())
        return [self._gpu_view(gpu) for gpu in self.gpu_types.values()
                if not wanted or gpu.id in wanted]

    def _gpu_view(self, gpu: GpuType) -> dict[str, Any]:
        def lowest(arguments: dict[str, Any]) -> dict[str, Any]:
            given = arguments.get("input") or {}
            count = given.get("gpuCount") or 1
            secure = given.get("secureCloud")
            clouds = ["SECURE", "COMMUNITY"] if secure is None else \
                ["SECURE" if secure else "COMMUNITY"]
            free = [c for c in clouds if gpu.free(c, count)]
            if not free:
                return {"gpuName": gpu.display_name, "gpuTypeId": gpu.id, "stockStatus": None,
                        "minimumBidPrice": None, "uninterruptablePrice": None}
            cloud = min(free, key=lambda c: gpu.prices(c)[0] or 0.0)
            price, spot = gpu.prices(cloud)
            return {"gpuName": gpu.display_name, "gpuTypeId": gpu.id, "stockStatus":
                    gpu.stock[cloud], "minimumBidPrice": spot, "uninterruptablePrice": price,
                    "minVcpu": 8 * count, "minMemory": 40 * count, "countryCode": "US",
                    "supportPublicIp": True}

        return {
            "id": gpu.id, "displayName": gpu.display_name, "manufacturer": "Nvidia",
            "memoryInGb": gpu.memory_gb, "maxGpuCount": gpu.max_gpu_count,
            "maxGpuCountSecureCloud": gpu.max_gpu_count,
            "maxGpuCountCommunityCloud": gpu.max_gpu_count, "minPodGpuCount": 1,
            "secureCloud": gpu.secure_price is not None,
            "communityCloud": gpu.community_price is not None,
            "securePrice": gpu.secure_price, "communityPrice": gpu.community_price,
            "secureSpotPrice": gpu.secure_spot, "communitySpotPrice": gpu.community_spot,
            "lowestPrice": lowest}

    def _myself(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"id": "user_fake0001", "pubKey": "", "networkVolumes": [],
                "pods": self._listing, "clientBalance": self.balance,
                "spendLimit": 80, "underBalance": self.balance <= 0,
                "currentSpendPerHr": sum(p["costPerHr"] for p in self.pods.values()
                                         if p["desiredStatus"] == "RUNNING")}

    def _listing(self, _: dict[str, Any]) -> list[dict[str, Any]]:
        """``myself { pods }``, called only when a query asks for the pods."""
        with self._lock:
            shown = [p for p in self.pods.values() if not self._hidden.get(p["id"])]
            self._hidden = {pid: n - 1 for pid, n in self._hidden.items() if n > 1}
            return shown

    def _pod(self, given: dict[str, Any]) -> dict[str, Any] | None:
        return self.pods.get(given["podId"])

    # ---------------------------------------------------------- mutations

    def _podFindAndDeployOnDemand(self, given: dict[str, Any]) -> dict[str, Any]:
        gpu, cloud = self._place(given)
        return self._create(gpu, cloud, given, None)

    def _podRentInterruptable(self, given: dict[str, Any]) -> dict[str, Any]:
        gpu, cloud = self._place(given)
        spot = gpu.prices(cloud)[1]
        # Under the lowest bid no machine takes the pod: RunPod says no capacity.
        if spot is None or given["bidPerGpu"] < spot:
            raise GraphQLError(NO_CAPACITY, "INTERNAL_SERVER_ERROR")
        return self._create(gpu, cloud, given, given["bidPerGpu"])

    def _place(self, given: dict[str, Any]) -> tuple[GpuType, str]:
        gpu = self.gpu_types.get(given.get("gpuTypeId") or "")
        count = given.get("gpuCount") or 1
        wanted = given.get("cloudType") or "ALL"
        clouds = ["COMMUNITY", "SECURE"] if wanted == "ALL" else [wanted]
        free = [c for c in clouds if gpu is not None and gpu.free(c, count)]
        if gpu is None or not free:
            raise GraphQLError(NO_CAPACITY, "INTERNAL_SERVER_ERROR")
        cloud = min(free, key=lambda c: gpu.prices(c)[0] or 0.0)
        if self.balance < (gpu.prices(cloud)[0] or 0.0) * count:
            raise GraphQLError(LOW_BALANCE, "INTERNAL_SERVER_ERROR")
        return gpu, cloud

    def _create(self, gpu: GpuType, cloud: str, given: dict[str, Any],
                bid: float | None) -> dict[str, Any]:
        count = given.get("gpuCount") or 1
        pod_id = _pod_id()
        now = datetime.now(UTC)
        pod = {
            "id": pod_id, "name": given.get("name", ""), "imageName": given.get("imageName", ""),
            "env": [f"{item['key']}={item['value']}" for item in given.get("env") or []],
            "dockerArgs": given.get("dockerArgs", ""), "dockerId": None,
            "containerDiskInGb": given.get("containerDiskInGb", 10),
            "volumeInGb": given.get("volumeInGb", 0),
            "volumeMountPath": given.get("volumeMountPath", "/workspace"),
            "costPerHr": round((bid if bid is not None else gpu.prices(cloud)[0] or 0.0) * count,
                               4),
            "desiredStatus": "RUNNING", "podType": "INTERRUPTABLE" if bid else "RESERVED",
            "gpuCount": count, "vcpuCount": 8 * count, "memoryInGb": 40 * count,
            "lastStatusChange": f"Rented by User: {now:%a %b %d %Y %H:%M:%S} GMT+0000",
            "createdAt": now.isoformat(), "machineId": _pod_id()[:12], "port": None,
            "ports": given.get("ports", ""), "uptimeSeconds": 0,
            "runtime": _runtime() if self.boot_at_once else None,
            "machine": {"id": _pod_id()[:12], "podHostId": f"{pod_id}-64410065",
                        "gpuDisplayName": gpu.display_name, "gpuTypeId": gpu.id,
                        "secureCloud": cloud == "SECURE", "dataCenterId": "US-TX-3",
                        "location": "US"},
            # Not a RunPod field: what resuming a spot pod is checked against.
            "_cloud": cloud, "_gpu": gpu.id,
        }
        self.pods[pod_id] = pod
        if self._hide_new:
            self._hidden[pod_id] = self._hide_new
        return pod

    def _known(self, given: dict[str, Any]) -> dict[str, Any]:
        pod = self.pods.get(given["podId"])
        if pod is None:
            raise GraphQLError(POD_NOT_FOUND, "INTERNAL_SERVER_ERROR")
        return pod

    def _podStop(self, given: dict[str, Any]) -> dict[str, Any]:
        pod = self._known(given)
        pod.update(desiredStatus="EXITED", runtime=None)
        return pod

    def _podResume(self, given: dict[str, Any]) -> dict[str, Any]:
        pod = self._known(given)
        if pod["podType"] in ("INTERRUPTABLE", "BID"):
            raise GraphQLError(SPOT_AS_ON_DEMAND, "INTERNAL_SERVER_ERROR")
        return self._start(pod)

    def _podBidResume(self, given: dict[str, Any]) -> dict[str, Any]:
        pod = self._known(given)
        gpu = self.gpu_types[pod["_gpu"]]
        spot = gpu.prices(pod["_cloud"])[1]
        if spot is None or given["bidPerGpu"] < spot:
            raise GraphQLError(NO_CAPACITY, "INTERNAL_SERVER_ERROR")
        pod["costPerHr"] = round(given["bidPerGpu"] * pod["gpuCount"], 4)
        return self._start(pod)

    def _start(self, pod: dict[str, Any]) -> dict[str, Any]:
        if not self.gpu_types[pod["_gpu"]].free(pod["_cloud"], pod["gpuCount"]):
            raise GraphQLError(NO_CAPACITY, "INTERNAL_SERVER_ERROR")
        pod.update(desiredStatus="RUNNING", runtime=_runtime() if self.boot_at_once else None)
        return pod

    def _podTerminate(self, given: dict[str, Any]) -> None:
        self._known(given)
        del self.pods[given["podId"]]


def _refusal(error: GraphQLError) -> tuple[int, str, str]:
    return 400, "application/json", json.dumps({"errors": [{
        "message": error.message, "extensions": {"code": error.code}}]})


def _runtime() -> dict[str, Any]:
    return {"uptimeInSeconds": 1, "ports": [
        {"ip": "10.0.0.7", "isIpPublic": False, "privatePort": 22, "publicPort": 22,
         "type": "tcp"},
        {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 22, "publicPort": 40022,
         "type": "tcp"}]}


def _handler(fake: FakeRunPod) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, content_type, text = fake.answer(self.path, headers, body)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read fake.requests, not stderr

    return Handler


def running(api_key: str = "rpa_FAKE0TEST0KEY0123456789") -> Iterator[FakeRunPod]:
    """For a pytest fixture: ``yield from running()``."""
    with FakeRunPod(api_key) as fake:
        yield fake
