"""What the fake of ``tests/providers/fake_azure.py`` stands on besides ARM:
a CA made for the test (azure-core sends no bearer token over plain http),
Microsoft Entra ID's token endpoint, and the Retail Prices API with the
fake subscription's sizes and prices.

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
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TENANT = "11111111-2222-4333-8444-555555555555"
CLIENT_ID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
CLIENT_SECRET = "fake~secret.for-tests"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


Pager = Callable[[Request, list[Any], str, str], tuple[int, dict[str, str], Any]]

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


def skus() -> list[dict[str, Any]]:
    return [sku(size, *row) for size, row in SIZE_TABLE.items()]


def price_list() -> list[dict[str, Any]]:
    return [item for (size, region), (on_demand, spot) in PRICE_TABLE.items()
            for item in price_items(size, region, on_demand, spot)]

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



def is_entra(path: str) -> bool:
    return (path == "/common/discovery/instance" or "/oauth2/" in path
            or path.endswith("/openid-configuration"))


def entra(base: str, tokens: set[str], request: Request) -> tuple[int, dict[str, str], Any]:
    """Answers msal as Entra ID does; a token it hands out is added to ``tokens``."""
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
    tokens.add(token)
    return 200, {}, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                     "access_token": token}



def prices(items: list[dict[str, Any]], request: Request,
           page: Pager) -> tuple[int, dict[str, str], Any]:
    """A page of the items the filter's ``eq`` terms select."""
    terms = dict(re.findall(r"(\w+) eq '([^']*)'", request.query.get("$filter", "")))
    # The filter's priceType is the items' "type".
    if "priceType" in terms:
        terms["type"] = terms.pop("priceType")
    found = [item for item in items if all(str(item.get(k)) == v for k, v in terms.items())]
    status, headers, answer = page(request, found, "Items", "NextPageLink")
    answer.update(BillingCurrency="USD", CustomerEntityId="Default",
                CustomerEntityType="Retail", Count=len(answer["Items"]))
    return status, headers, answer


def handler(answer: Callable[[Request], tuple[int, dict[str, str], Any]]
            ) -> Callable[..., BaseHTTPRequestHandler]:
    """An HTTP handler that hands every request to ``answer``."""
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
            status, extra, reply = answer(
                Request(self.command, split.path, query, headers, body))
            payload = b"" if reply is None else json.dumps(reply).encode()
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
            pass  # the tests read the fake's requests, not stderr

    return Handler
