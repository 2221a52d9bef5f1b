"""A fake of what an Azure VM reaches from inside, for one VM: the instance
metadata service (``/metadata/instance``, ``/metadata/scheduledevents``, the
managed identity's ``/metadata/identity/oauth2/token``) and ARM's VM delete
(``DELETE /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/
virtualMachines/{name}``). As the real IMDS does, it answers only a request
with ``Metadata: true`` and an ``api-version`` (else 400); ARM takes only a
token the identity endpoint issued. Scheduled Events go to every VM of an
availability set, so an event names the VMs it affects in ``Resources``."""

from __future__ import annotations

import json
import secrets
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

from tests.providers.fake_server import FakeServer


class FakeAzure(FakeServer):
    def __init__(self, subscription: str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590",
                 group: str = "aima-rg", name: str = "aima-gpu-1") -> None:
        self.subscription, self.group, self.name = subscription, group, name
        self.events: list[dict] = []
        self.refuse_delete = False
        self.tokens: set[str] = set()
        self.polls = 0
        # Requests refused for want of the Metadata header.
        self.bare = 0
        # (path, Authorization) of each delete ARM accepted.
        self.deleted: list[tuple[str, str]] = []
        azure = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if self.headers.get("Metadata") != "true":
                    azure.bare += 1
                    return self.answer(400, {"error": "Bad request. Required metadata header "
                                                      "not specified"})
                if "api-version" not in query:
                    return self.answer(400, {"error": "Bad request. api-version was not "
                                                      "specified in the request"})
                found = azure.metadata(url.path, query)
                if found is None:
                    return self.answer(404, {"error": "Not found"})
                self.answer(200, found)

            def do_DELETE(self) -> None:
                status, body = azure.delete(self.path, self.headers.get("Authorization", ""))
                self.answer(status, body)

            def answer(self, status: int, body: dict | None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    def schedule(self, event_type: str = "Preempt", resources: list[str] | None = None,
                 in_s: int = 30) -> dict:
        """Post a Scheduled Event (to this VM unless ``resources`` name others)."""
        event = {"EventId": str(uuid.uuid4()).upper(), "EventType": event_type,
                 "ResourceType": "VirtualMachine",
                 "Resources": [self.name] if resources is None else resources,
                 "EventStatus": "Scheduled",
                 "NotBefore": format_datetime(datetime.now(UTC) + timedelta(seconds=in_s),
                                              usegmt=True),
                 "Description": "", "EventSource": "Platform", "DurationInSeconds": -1}
        self.events.append(event)
        return event

    def metadata(self, path: str, query: dict[str, str]) -> dict | None:
        if path == "/metadata/scheduledevents":
            self.polls += 1
            return {"DocumentIncarnation": len(self.events), "Events": self.events}
        if path == "/metadata/instance":
            return {"compute": {"name": self.name, "resourceGroupName": self.group,
                                "subscriptionId": self.subscription, "location": "westeurope",
                                "priority": "Spot", "vmId": str(uuid.uuid4())},
                    "network": {"interface": []}}
        if path == "/metadata/identity/oauth2/token" and "resource" in query:
            token = f"eyJ0eXAi.{secrets.token_urlsafe(24)}"
            self.tokens.add(token)
            return {"access_token": token, "expires_in": "86399", "resource": query["resource"],
                    "token_type": "Bearer"}
        return None

    def delete(self, path: str, authorization: str) -> tuple[int, dict | None]:
        kind, _, token = authorization.partition(" ")
        if kind != "Bearer" or token not in self.tokens:
            return 401, {"error": {"code": "InvalidAuthenticationToken",
                                   "message": "The access token is invalid."}}
        url = urllib.parse.urlsplit(path)
        own = (f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/"
               f"Microsoft.Compute/virtualMachines/{self.name}")
        if self.refuse_delete:
            return 403, {"error": {"code": "AuthorizationFailed", "message": (
                "The client does not have authorization to perform action "
                f"'Microsoft.Compute/virtualMachines/delete' over scope '{own}'")}}
        if url.path.lower() != own.lower():  # ARM's paths ignore case
            return 404, {"error": {"code": "ResourceNotFound", "message": "Not found"}}
        if "api-version" not in urllib.parse.parse_qs(url.query):
            return 400, {"error": {"code": "MissingApiVersionParameter",
                                   "message": "The api-version query parameter is required"}}
        self.deleted.append((path, authorization))
        return 202, None
