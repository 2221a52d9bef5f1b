"""Where the message broker is: RabbitMQ when configured, else a folder.

With nothing configured, AIMA uses kombu's filesystem transport, which needs no
server and works across processes on one machine. Remote control is switched
off there; worker events reach Flower through its topic exchange
(``embedded_transport`` leases such bindings to their listener's process).

RabbitMQ over TLS (``amqps://``) always verifies the broker's certificate and
host name: against ``AIMA_BROKER_CA`` when set (a CA bundle file, or its PEM
text, as cloud agents get it), else against the system's CAs. A client
certificate (``AIMA_BROKER_CERT``/``AIMA_BROKER_KEY``) is the control plane's
own and never leaves it.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_BROKER_URL = "filesystem://localhost//"


def var_dir() -> Path:
    """The folder for everything the embedded default keeps on disk."""
    return Path(os.environ.get("AIMA_VAR_DIR") or PROJECT_ROOT / "var").resolve()


def broker_url() -> str:
    return os.environ.get("AIMA_BROKER_URL") or EMBEDDED_BROKER_URL


def is_embedded(url: str) -> bool:
    return url.startswith("filesystem://")


def transport(url: str) -> str | None:
    """The kombu transport class for ``url``: for the embedded broker, kombu's
    filesystem transport writing whole messages only; else the URL's own."""
    return "aima_tasks.embedded_transport:Transport" if is_embedded(url) else None


def transport_options(url: str) -> dict:
    if is_embedded(url):
        folder = var_dir() / "broker"
        control = folder / "control"
        control.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            # Exchange bindings; kombu would put them in ./control otherwise.
            "control_folder": str(control),
            "store_processed": False,
            # Each hop of a pipeline waits up to one poll; keep hops short.
            "polling_interval": 0.1,
        }
    # Publisher confirms: a task counts as sent only once the broker has it.
    return {"confirm_publish": True}


# A publish may wait this long in all (connecting, sending, the broker's confirm) before
# it fails: a hung broker costs a request or a control step seconds, not minutes inside
# an open transaction, and the caller answers 503 (aima_web/core/faults.py) or retries.
DEFAULT_PUBLISH_TIMEOUT_S = 3.0
# The waits a failing publish can make in turn, each bounded by an equal share of the
# timeout: the confirm on the pooled connection, then (the one retry of
# publish_retry_policy) two attempts to connect anew.
PUBLISH_WAITS = 3


def publish_timeout_s() -> float:
    """``AIMA_PUBLISH_TIMEOUT_S``: seconds a publish may take before it fails."""
    raw = os.environ.get("AIMA_PUBLISH_TIMEOUT_S") or str(DEFAULT_PUBLISH_TIMEOUT_S)
    try:
        timeout = float(raw)
    except ValueError:
        timeout = 0.0
    if not timeout > 0:
        raise ValueError(f"AIMA_PUBLISH_TIMEOUT_S={raw!r}: must be a number of seconds above 0")
    return timeout


def publish_connection_options(url: str) -> dict:
    """What a connection that publishes takes on top of :func:`transport_options`:
    its every blocking wait (connecting, the handshake, opening a channel, the
    confirm) bounded by socket timeouts. Consuming connections keep waiting for
    messages as long as there are none. The embedded broker writes files: no waits."""
    if is_embedded(url):
        return {}
    wait_s = publish_timeout_s() / PUBLISH_WAITS
    return {"connect_timeout": wait_s,
            "transport_options": {"read_timeout": wait_s, "write_timeout": wait_s}}


def publish_retry_policy() -> dict:
    """Celery's ``task_publish_retry_policy``: one retry, at once, so that a pooled
    connection the broker dropped (a restart) is replaced within the same publish;
    more would wait past :func:`publish_timeout_s` on a hung broker."""
    return {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class BrokerTlsError(ValueError):
    """TLS settings that cannot work together; the message names them."""


def is_tls(url: str) -> bool:
    return url.startswith("amqps://")


def ca_bundle() -> str:
    """``AIMA_BROKER_CA``: a CA bundle's path or PEM text; '' for the system's CAs."""
    return os.environ.get("AIMA_BROKER_CA", "").strip()


def ca_pem() -> str:
    """The PEM text of ``AIMA_BROKER_CA``, to hand to a host that lacks the file."""
    bundle = ca_bundle()
    if not bundle or bundle.startswith("-----BEGIN"):
        return bundle
    return Path(bundle).read_text()


def ssl_options(url: str) -> dict | bool:
    """What kombu's ``ssl`` (Celery's ``broker_use_ssl``) is for ``url``:
    False without TLS; with it, the broker's certificate and host name are
    checked."""
    if not is_tls(url):
        return False
    # Named here: kombu would fill in its connection's host, which it turns
    # from "localhost" into "127.0.0.1", a name certificates rarely carry.
    host = urlsplit(url).hostname
    bundle = ca_bundle()
    cert = os.environ.get("AIMA_BROKER_CERT", "")
    key = os.environ.get("AIMA_BROKER_KEY", "")
    if cert or key:
        if not (cert and key):
            raise BrokerTlsError("AIMA_BROKER_CERT and AIMA_BROKER_KEY go together")
        if bundle.startswith("-----BEGIN"):
            raise BrokerTlsError("with AIMA_BROKER_CERT, AIMA_BROKER_CA must be a file path")
        return {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": host,
                "ca_certs": bundle or None, "certfile": cert, "keyfile": key}
    # Made with ssl.create_default_context, which reads a CA file or PEM text.
    return {"context": {**trust(), "check_hostname": True}, "server_hostname": host}


def trust() -> dict[str, str]:
    """``ssl.create_default_context``'s arguments for the broker's CA; none
    for the system's CAs."""
    bundle = ca_bundle()
    if bundle.startswith("-----BEGIN"):
        return {"cadata": bundle}
    return {"cafile": bundle} if bundle else {}
