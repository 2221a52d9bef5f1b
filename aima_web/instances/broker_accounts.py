"""RabbitMQ users of cloud instances: one per instance, made when it is
launched, deleted when it ends.

A rented host is not trusted. Its agent gets a broker user that may read the
one queue of its instance's GPU class, ``gpu.cloud.<class>``, and nothing
else: no configure, no write (so no ``control``, no ``gpu.local.*``, no
``celeryev``, no ``celery.pidbox``: Celery's remote control has no
authentication). The user is made through RabbitMQ's management API
(``AIMA_BROKER_ADMIN_URL``); the control plane's own broker URL is never
handed out. The embedded filesystem broker has no users: an instance on this
machine (the subprocess provider) shares its folder, as before.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import ssl
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings

from aima_tasks import broker
from aima_tasks.kernel.routing import Scope, gpu_queue
from aima_web.audit import trail

log = logging.getLogger(__name__)

API_TIMEOUT_S = 10
DEFAULT_PORTS = {"amqp": 5672, "pyamqp": 5672, "amqps": 5671}


class BrokerAccountError(Exception):
    """A broker user could not be made: a setting is missing or refused.
    Another attempt or offer would not do better."""

    retryable = False


class BrokerUnavailable(BrokerAccountError):
    """The management API did not answer (down, 5xx, timeout): worth retrying."""

    retryable = True


def user_name(instance_id: int) -> str:
    """Unique per deployment, so that two control planes sharing a broker
    never delete each other's users."""
    return f"{user_prefix()}{instance_id}"


def user_prefix() -> str:
    return f"aima-cloud-{settings.AIMA_DEPLOYMENT_ID}-"


def uses_accounts() -> bool:
    """Whether instances get broker users: on RabbitMQ, not the embedded broker."""
    return not broker.is_embedded(settings.AIMA_BROKER_URL)


def vhost() -> str:
    """The control plane's vhost, where the queues are declared."""
    path = urlsplit(settings.AIMA_BROKER_URL).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def read_permission(gpu_class: int) -> str:
    return f"^{re.escape(gpu_queue(Scope.CLOUD, gpu_class))}$"


def agent_env(instance_id: int, gpu_class: int) -> dict[str, str]:
    """The broker settings an instance's agent starts with."""
    if not uses_accounts():
        # The embedded broker is a folder: only an agent on this machine,
        # sharing it, can reach it.
        return {"AIMA_BROKER_URL": settings.AIMA_BROKER_URL,
                "AIMA_VAR_DIR": str(settings.VAR_DIR)}
    url = mint(instance_id, gpu_class)
    env = {"AIMA_BROKER_URL": url}
    if broker.is_tls(url) and broker.ca_bundle():
        # The host has no copy of the CA file: it gets the PEM text.
        env["AIMA_BROKER_CA"] = broker.ca_pem()
    return env


def mint(instance_id: int, gpu_class: int) -> str:
    """Make (or remake, with a new password) the instance's user; return the
    broker URL its agent connects with."""
    if not settings.AIMA_BROKER_ADMIN_URL:
        raise BrokerAccountError(
            "AIMA_BROKER_ADMIN_URL is not set: on RabbitMQ every cloud instance gets a "
            "broker user of its own, made through the management API, and never the "
            "control plane's AIMA_BROKER_URL")
    name, password = user_name(instance_id), secrets.token_urlsafe(32)
    call("PUT", f"users/{quote(name, safe='')}", {"password": password, "tags": ""})
    call("PUT", f"permissions/{quote(vhost(), safe='')}/{quote(name, safe='')}",
         {"configure": "^$", "write": "^$", "read": read_permission(gpu_class)})
    trail.record(trail.SYSTEM, "broker.user_created", f"instance:{instance_id}", user=name,
                 read=read_permission(gpu_class))
    return agent_url(name, password)


def agent_url(user: str, password: str) -> str:
    """The agents' broker (``AIMA_AGENT_BROKER_URL``: its scheme, host and
    port; any credentials in it are dropped) with this user, on the control
    plane's vhost."""
    where = urlsplit(settings.AIMA_AGENT_BROKER_URL)
    host = f"[{where.hostname}]" if ":" in (where.hostname or "") else where.hostname
    port = f":{where.port}" if where.port else ""
    return (f"{where.scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
            f"/{quote(vhost(), safe='')}")


def remove(instance_id: int) -> bool:
    """Delete the instance's user, if it has one; True once it is gone. A
    failure is logged and left to the reconciler's :func:`sweep`."""
    if not uses_accounts() or not settings.AIMA_BROKER_ADMIN_URL:
        return True
    name = user_name(instance_id)
    try:
        absent = call("DELETE", f"users/{quote(name, safe='')}", missing_ok=True) is False
    except BrokerAccountError as exc:
        log.warning("deleting broker user %s failed (the reconciler tries again): %s", name, exc)
        return False
    if not absent:
        trail.record(trail.SYSTEM, "broker.user_deleted", f"instance:{instance_id}", user=name)
    return True


def sweep(live_instance_ids: Callable[[], set[int]]) -> list[str]:
    """Delete every instance user of this deployment whose instance is not
    live (ended, or unknown here); return their names. The users are listed
    before the live instances are read, so a user minted meanwhile is never
    taken for a stale one. A management API that does not answer costs this
    pass its sweep, not the reconciler its report."""
    if not uses_accounts() or not settings.AIMA_BROKER_ADMIN_URL:
        return []
    try:
        users = call("GET", "users?columns=name") or []
    except BrokerAccountError as exc:
        log.warning("could not list the broker's users to sweep them: %s", exc)
        return []
    live = live_instance_ids()
    prefix = user_prefix()
    stale = []
    for user in users:
        suffix = user["name"].removeprefix(prefix)
        if suffix != user["name"] and suffix.isdigit() and int(suffix) not in live:
            stale.append(int(suffix))
    return [user_name(instance_id) for instance_id in stale if remove(instance_id)]


def call(method: str, path: str, body: dict | None = None,
         missing_ok: bool = False) -> object:
    """One management API call as ``AIMA_BROKER_ADMIN_URL``'s user: its JSON
    answer, None when empty, or False for a 404 the caller expected."""
    admin = urlsplit(settings.AIMA_BROKER_ADMIN_URL)
    base = f"{admin.scheme}://{admin.hostname}{f':{admin.port}' if admin.port else ''}"
    request = urllib.request.Request(
        f"{base}{admin.path.rstrip('/')}/api/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": "Basic " + b64encode(
            f"{unquote(admin.username or '')}:{unquote(admin.password or '')}".encode()
        ).decode()})
    context = ssl.create_default_context(**broker.trust()) if admin.scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_S, context=context) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return False
        detail = exc.read()[:300].decode(errors="replace")
        if exc.code >= 500:
            raise BrokerUnavailable(f"RabbitMQ's management API answered {exc.code} to "
                                    f"{method} {path}: {detail}") from None
        raise BrokerAccountError(f"RabbitMQ's management API refused {method} {path} with "
                                 f"{exc.code} (check AIMA_BROKER_ADMIN_URL's user, which "
                                 f"needs the administrator tag, and the vhost): {detail}"
                                 ) from None
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(getattr(exc, "reason", exc), ssl.SSLCertVerificationError):
            raise BrokerAccountError(f"RabbitMQ's management API at {base} failed the "
                                     f"certificate check (AIMA_BROKER_CA): {exc}") from None
        raise BrokerUnavailable(f"RabbitMQ's management API at {base} is unreachable: "
                                f"{exc}") from None
    return json.loads(raw) if raw else None


LOCAL_AGENT_USER = "aima-local-agent"
LOCAL_AGENT_READ = r"^gpu\.local\.[0-9]+$"


def ensure_local_agents_user(password: str) -> None:
    """Make (or update) the on-premises agents' broker user: it may read the
    local GPU queues and nothing else (deploy/README.md, "RabbitMQ"). The
    control plane's vhost is made too, where the broker lacks it."""
    if not settings.AIMA_BROKER_ADMIN_URL:
        raise BrokerAccountError("AIMA_BROKER_ADMIN_URL is not set: the local agents' broker "
                                 "user is made through RabbitMQ's management API")
    where = quote(vhost(), safe="")
    call("PUT", f"vhosts/{where}", {})
    call("PUT", f"users/{LOCAL_AGENT_USER}", {"password": password, "tags": ""})
    call("PUT", f"permissions/{where}/{LOCAL_AGENT_USER}",
         {"configure": "^$", "write": "^$", "read": LOCAL_AGENT_READ})
