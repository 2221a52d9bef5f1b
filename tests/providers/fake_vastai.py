"""A stand-in for the Vast.ai REST API on 127.0.0.1, for the real SDK to talk to.

The provider runs the installed SDK (``vastai`` 1.9.1, also importable as
``vastai_sdk``) unchanged against this server, so what it serves is what the SDK
sends and reads. ``VastClient._build_url`` (vastai/api/client.py) puts ``/api/v0``
in front of every path that names no version.

SDK call -> HTTP (source in site-packages/vastai/):

  VastAI.search_offers(query, type, order, limit, storage)
      sdk.py -> api/offers.py:search_offers
      POST /api/v0/bundles/  with the parsed query as the JSON body:
      {"verified": {"eq": true}, "external": {"eq": false}, "rentable": {"eq": true},
       "num_gpus": {"eq": "1"}, "gpu_ram": {"gte": 24064.0}, "cuda_max_good": {"gte": "12.1"},
       "order": [["dph_total", "asc"]], "type": "on-demand" | "bid", "limit": 64,
       "allocated_storage": 40.0}
      -> {"offers": [ask, ...]}
      api/query.py:parse_query sends values as strings ("0.9", "1") except for
      fields with a multiplier (gpu_ram x1000: a query in GB, asks in MiB), turns
      "_" into " " and splits ``in [A,B]`` into lists; the server compares numbers.
  VastAI.create_instance(id, image=, disk=, env=, label=, onstart_cmd=, bid_price=, ...)
      api/instances.py:create_instance -> build_create_instance_payload
      PUT /api/v0/asks/{ask_id}/  {"client_id": "me", "image", "env": {..}, "price": bid|null,
       "disk", "label", "onstart", "runtype", "cancel_unavail", ...}
      -> {"success": true, "new_contract": instance_id}
      (docs.vast.ai/api-reference/instances/create-instance;
       docs.vast.ai/api-reference/creating-instances-with-api: ``price`` is the
       interruptible bid in $/h, ``onstart`` runs after Vast's entrypoint)
  VastAI.show_instance(id)
      api/instances.py:show_instance
      GET /api/v0/instances/{id}/?owner=me  -> {"instances": row}, or {"instances": null}
      for an instance that is gone (cli/commands/instances.py:show__instance reads
      None as "not found or no longer exists"). The SDK needs ``start_date`` and
      ``extra_env`` (a list of [name, value] pairs) in every row.
  VastAI.show_instances()
      api/instances.py:show_instances -> show_instances_v1
      GET /api/v1/instances/?select_filters={..}&order_by=[{"col":"id","dir":"asc"}]&limit=25
      [&after_token=..]  -> {"instances": [...], "next_token": str|null,
      "total_instances": n, "label_counts": {label: n}}; the SDK follows next_token.
      Query values are JSON, except strings, which go as they are.
  VastAI.destroy_instance(id)
      DELETE /api/v0/instances/{id}/  body {}  -> {"success": true}
  VastAI.stop_instance(id) / VastAI.start_instance(id)
      PUT /api/v0/instances/{id}/  {"state": "stopped"} / {"state": "running"}
  VastAI.show_user()
      api/billing.py:show_user
      GET /api/v0/users/current  -> the user, with ``api_key`` (which the SDK drops)

Authentication: ``Authorization: Bearer <key>`` (api/client.py:_build_headers);
the API also takes ``?api_key=`` (vast.ai/developers/api). A wrong key: 401.

Errors (docs.vast.ai/api-reference/rate-limits-and-errors): mostly
``{"success": false, "error": "<code>", "msg": "..."}``; a 429 is often plain text
"API requests too frequent" without Retry-After. Renting an ask that is taken
answers ``error: "no_such_ask"``; public clients report it with 410, 404 or
400, so the provider goes by the code, and this fake answers 410. An unknown
instance on DELETE/PUT: 404 ``no_such_instance`` (as public clients report it).
``insufficient_credit`` is the code public clients report for a rent without
credit; its status is not documented (400 here).

Instance states follow the SDK's SKILL.md table of ``actual_status`` (null,
created, loading, running, stopped, frozen, exited, rebooting, unknown, offline).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.providers.fake_server import FakeServer

API_KEY = "vast-test-key-5f2e9c1d7a"
HOURS_PER_MONTH = 730.0
# Keys of a search body that are not filters.
NOT_FILTERS = {"order", "type", "limit", "allocated_storage", "disable_bundling"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    authorization: str


@dataclass
class Fault:
    status: int
    body: Any
    path: str
    remaining: int


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def ask(ask_id: int, gpu_name: str, num_gpus: int, gpu_ram_mib: int, dph: float,
        min_bid: float | None, geolocation: str, reliability: float, cuda: float,
        inet_down: float, verified: bool = True) -> dict[str, Any]:
    """One machine's offer, with the fields a bundles search returns."""
    return {
        "id": ask_id, "ask_contract_id": ask_id, "machine_id": ask_id + 50_000,
        "host_id": ask_id + 90_000, "gpu_name": gpu_name, "num_gpus": num_gpus,
        "gpu_ram": gpu_ram_mib, "gpu_total_ram": gpu_ram_mib * num_gpus,
        "cuda_max_good": cuda, "driver_version": "550.54.15",
        "reliability": reliability, "reliability2": reliability,
        "inet_down": inet_down, "inet_up": inet_down / 2, "geolocation": geolocation,
        "dph_base": dph, "storage_cost": 0.10, "min_bid": min_bid,
        "verified": verified, "verification": "verified" if verified else "unverified",
        "external": False, "rentable": True, "rented": False, "hosting_type": 0,
        "disk_space": 500.0, "cpu_cores": 32, "cpu_ram": 64_000, "score": 100.0 - dph,
    }


def seed_asks() -> list[dict[str, Any]]:
    """Modelled on /work/shared/data/prices/vast.csv, with interruptible bids."""
    return [
        ask(1001, "RTX 4090", 1, 24564, 0.40, 0.22, "Spain, ES", 0.995, 12.4, 850.0),
        ask(1002, "RTX 4090", 1, 24564, 0.40, 0.20, "Texas, US", 0.970, 12.2, 600.0),
        ask(1003, "RTX 4090", 2, 24564, 0.80, None, "Oregon, US", 0.990, 12.4, 900.0),
        ask(1004, "RTX 3090", 1, 24576, 0.25, 0.12, "Germany, DE", 0.930, 12.1, 500.0),
        ask(1005, "A100 SXM4", 1, 40960, 1.20, 0.70, "Germany, DE", 0.990, 12.2, 2000.0),
        ask(1006, "H100 SXM", 1, 81559, 1.80, 1.10, "Czechia, CZ", 0.999, 12.6, 5000.0),
        ask(1007, "RTX 3060", 1, 12288, 0.15, 0.08, "Quebec, CA", 0.880, 11.7, 300.0),
        # Cheap but unverified: the SDK's default filters keep it out of searches.
        ask(1008, "RTX 4090", 1, 24564, 0.30, 0.15, "Texas, US", 0.990, 12.4, 700.0,
            verified=False),
    ]


def dph_total(offer: dict[str, Any], storage_gb: float) -> float:
    """The hourly price Vast quotes: the machine plus the storage asked for."""
    return offer["dph_base"] + storage_gb * offer["storage_cost"] / HOURS_PER_MONTH


def error(status: int, code: str, msg: str) -> Answer:
    return Answer(status, {"success": False, "error": code, "msg": msg})


class FakeVastAi(FakeServer):
    """The fake server: state, fault injection and a record of requests.

    Use as a context manager; ``url`` is what the provider's ``url`` setting takes.
    """

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.asks: dict[int, dict[str, Any]] = {a["id"]: a for a in seed_asks()}
        self.instances: dict[int, dict[str, Any]] = {}
        self.credit = 25.0
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._next_instance = 7_000_001
        # Instances rented from now on stay out of this many listings each.
        self._hide_new = 0
        self._hidden: dict[int, int] = {}
        self._lock = threading.Lock()
        super().__init__(_Handler)
        self._server.fake = self  # type: ignore[attr-defined]

    # ---- what tests arrange

    def fail_next(self, count: int = 1, status: int = 500, body: Any = None,
                  path: str = "") -> None:
        """Answer the next ``count`` requests whose path starts with ``path``
        with ``status`` and ``body`` (a dict as JSON, a str as plain text)."""
        if body is None:
            body = {"success": False, "error": "server_error", "msg": "Internal Server Error"}
        with self._lock:
            self._faults.append(Fault(status, body, path, count))

    def hide_new_instances(self, listings: int) -> None:
        """Instances rented from now on are missing from the next ``listings``
        listings after their rent, as an eventually consistent listing leaves
        out a just-created instance (SkyPilot's leak rules, PR 4443)."""
        with self._lock:
            self._hide_new = listings

    def take(self, ask_id: int) -> None:
        """Someone else rents the ask: it leaves searches and cannot be rented."""
        with self._lock:
            self.asks[ask_id]["rented"] = True

    def set_status(self, instance_id: int, actual_status: str | None) -> None:
        with self._lock:
            self.instances[instance_id]["actual_status"] = actual_status

    def add_instance(self, label: str, actual_status: str = "running") -> int:
        """An instance rented outside AIMA (or by another deployment)."""
        with self._lock:
            row = self._new_instance(self.asks[1002], {"label": label, "image": "other/img"})
            row["actual_status"] = actual_status
            return row["id"]

    def requests_to(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # ---- serving

    def handle(self, method: str, raw_path: str, body: Any, authorization: str) -> Answer:
        parts = urlsplit(raw_path)
        query = {k: _decode(v) for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        with self._lock:
            self.requests.append(Recorded(method, parts.path, query, body, authorization))
            fault = self._take_fault(parts.path)
            if fault is not None:
                return fault
            if not self._authorized(authorization, query):
                return error(401, "auth_error", "Invalid user key")
            return self._route(method, parts.path, query, body)

    def _take_fault(self, path: str) -> Answer | None:
        for fault in self._faults:
            if fault.remaining > 0 and path.startswith(fault.path):
                fault.remaining -= 1
                return Answer(fault.status, fault.body)
        return None

    def _authorized(self, authorization: str, query: dict[str, Any]) -> bool:
        presented = authorization.removeprefix("Bearer ").strip() or str(query.get("api_key", ""))
        return bool(presented) and presented == self.api_key

    def _route(self, method: str, path: str, query: dict[str, Any], body: Any) -> Answer:
        segments = [s for s in path.split("/") if s]
        match method, segments:
            case "POST", ["api", "v0", "bundles"]:
                return self._search(body or {})
            case "PUT", ["api", "v0", "asks", ask_id] if ask_id.isdigit():
                return self._create(int(ask_id), body or {})
            case "GET", ["api", "v0", "instances", iid] if iid.isdigit():
                return Answer(200, {"instances": self.instances.get(int(iid))})
            case "GET", ["api", "v1", "instances"]:
                return self._list(query)
            case "DELETE", ["api", "v0", "instances", iid] if iid.isdigit():
                return self._destroy(int(iid))
            case "PUT", ["api", "v0", "instances", iid] if iid.isdigit():
                return self._update(int(iid), body or {})
            case "GET", ["api", "v0", "users", "current"]:
                return Answer(200, {"id": 4242, "username": "aima-test", "email": "ops@example.org",
                                    "credit": self.credit, "balance": 0.0,
                                    "api_key": self.api_key})
        return error(404, "not_found", f"no route for {method} {path}")

    # ---- offers

    def _search(self, q: dict[str, Any]) -> Answer:
        storage = float(q.get("allocated_storage", 5.0))
        bid = q.get("type") == "bid"
        found = [dict(a, dph_total=round(dph_total(a, storage), 6)) for a in self.asks.values()
                 if not a["rented"] and (not bid or a["min_bid"] is not None)]
        found = [a for a in found if _matches(a, q)]
        for name, direction in reversed(q.get("order") or [["score", "desc"]]):
            present = [a for a in found if a.get(name) is not None]
            absent = [a for a in found if a.get(name) is None]
            present.sort(key=lambda a, n=name: a[n], reverse=direction == "desc")
            found = present + absent
        limit = int(q.get("limit") or 64)
        return Answer(200, {"offers": found[:limit]})

    # ---- instances

    def _create(self, ask_id: int, body: dict[str, Any]) -> Answer:
        offer = self.asks.get(ask_id)
        if offer is None or offer["rented"]:
            return error(410, "no_such_ask", f"Instance type by id {ask_id} is not available.")
        if not body.get("image") and not body.get("template_hash_id"):
            return error(400, "invalid_args", "image is required")
        if self.credit <= 0:
            return error(400, "insufficient_credit",
                         "Your account lacks credit; add credit on the billing page.")
        price = body.get("price")
        if price is not None:
            if offer["min_bid"] is None:
                return error(400, "invalid_args", "this offer cannot be rented interruptibly")
            if float(price) < offer["min_bid"]:
                return error(400, "invalid_args", f"bid {price} is below the minimum bid")
        offer["rented"] = True
        row = self._new_instance(offer, body)
        if self._hide_new:
            self._hidden[row["id"]] = self._hide_new
        return Answer(200, {"success": True, "new_contract": row["id"]})

    def _new_instance(self, offer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        iid = self._next_instance
        self._next_instance += 1
        price = body.get("price")
        disk = float(body.get("disk") or 10)
        row = {
            "id": iid, "ask_id": offer["id"], "machine_id": offer["machine_id"],
            "host_id": offer["host_id"], "actual_status": "loading",
            "intended_status": "running", "cur_state": "running", "next_state": "running",
            "status_msg": "Pulling image", "label": body.get("label"),
            "image_uuid": body.get("image"), "onstart": body.get("onstart"),
            "extra_env": [[k, v] for k, v in (body.get("env") or {}).items()],
            "disk_space": disk, "gpu_name": offer["gpu_name"], "num_gpus": offer["num_gpus"],
            "gpu_ram": offer["gpu_ram"], "geolocation": offer["geolocation"],
            "cuda_max_good": offer["cuda_max_good"], "reliability2": offer["reliability2"],
            "inet_down": offer["inet_down"], "is_bid": price is not None,
            "min_bid": offer["min_bid"],
            "dph_base": float(price) if price is not None else offer["dph_base"],
            "start_date": time.time(), "public_ipaddr": f"203.0.113.{iid % 250 + 1}",
            "ssh_host": "ssh4.vast.ai", "ssh_port": 20_000 + iid % 10_000,
        }
        storage = disk * offer["storage_cost"] / HOURS_PER_MONTH
        row["dph_total"] = round(row["dph_base"] + storage, 6)
        self.instances[iid] = row
        return row

    def _list(self, query: dict[str, Any]) -> Answer:
        rows = sorted(self.instances.values(), key=lambda r: r["id"])
        rows = [r for r in rows if _matches(r, query.get("select_filters") or {})]
        token = str(query.get("after_token") or "")
        rows = [r for r in rows if not self._hidden.get(r["id"])]
        if not token:  # a listing's first page: one listing more for the hidden
            self._hidden = {iid: n - 1 for iid, n in self._hidden.items() if n > 1}
        if token.startswith("after:"):
            rows = [r for r in rows if r["id"] > int(token.removeprefix("after:"))]
        limit = int(query.get("limit") or 25)
        page, more = rows[:limit], len(rows) > limit
        labels = Counter(r["label"] for r in self.instances.values())
        return Answer(200, {"instances": page,
                            "next_token": f"after:{page[-1]['id']}" if more else None,
                            "total_instances": len(self.instances),
                            "label_counts": {str(k): n for k, n in labels.items()}})

    def _destroy(self, iid: int) -> Answer:
        row = self.instances.pop(iid, None)
        if row is None:
            return error(404, "no_such_instance", f"Instance {iid} not found.")
        if row["ask_id"] in self.asks:
            self.asks[row["ask_id"]]["rented"] = False
        return Answer(200, {"success": True})

    def _update(self, iid: int, body: dict[str, Any]) -> Answer:
        row = self.instances.get(iid)
        if row is None:
            return error(404, "no_such_instance", f"Instance {iid} not found.")
        if "label" in body:
            row["label"] = body["label"]
        state = body.get("state")
        if state == "stopped":
            row.update(actual_status="stopped", intended_status="stopped", cur_state="stopped")
        elif state == "running":
            row.update(actual_status="loading", intended_status="running", cur_state="running")
        elif state is not None:
            return error(400, "invalid_args", f"unknown state {state!r}")
        return Answer(200, {"success": True})


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        fake: FakeVastAi = self.server.fake  # type: ignore[attr-defined]
        answer = fake.handle(self.command, self.path, body,
                             self.headers.get("Authorization", ""))
        if isinstance(answer.body, str):
            data, kind = answer.body.encode(), "text/plain"
        else:
            data, kind = json.dumps(answer.body).encode(), "application/json"
        self.send_response(answer.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output to the tests' own


def _decode(value: str) -> Any:
    """The SDK sends JSON for everything but strings, which go as they are."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _matches(row: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, condition in filters.items():
        if name in NOT_FILTERS or not isinstance(condition, dict):
            continue
        value = row.get(name)
        if name == "geolocation" and isinstance(value, str):
            value = value.rsplit(",", 1)[-1].strip()  # filters name the country code
        if not all(_compare(value, op, want) for op, want in condition.items()):
            return False
    return True


def _compare(value: Any, op: str, want: Any) -> bool:
    if op in ("in", "notin"):
        inside = any(_equal(value, w) for w in want)
        return inside if op == "in" else not inside
    if op == "eq":
        return _equal(value, want)
    if op == "neq":
        return not _equal(value, want)
    if value is None or want is None:
        return False
    a, b = float(value), float(want)
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _equal(value: Any, want: Any) -> bool:
    if isinstance(value, bool) or isinstance(want, bool):
        return str(value).lower() == str(want).lower()
    if isinstance(value, int | float) and not isinstance(want, bool):
        try:
            return float(value) == float(want)
        except (TypeError, ValueError):
            return False
    return value == want


def serve() -> Iterator[FakeVastAi]:
    """For a pytest fixture: ``yield from serve()``."""
    with FakeVastAi() as fake:
        yield fake
