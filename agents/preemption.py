"""Spot preemption notices, polled every ``POLL_S`` seconds as SkyPilot's
managed jobs do: on a notice the agent stops taking work and hands its
unfinished units back at once, rather than losing them with the host.

AWS posts the notice two minutes ahead in the instance metadata (IMDSv2: a
session token from ``PUT /latest/api/token``, then ``GET
/latest/meta-data/spot/instance-action``: 404 while there is none, else
``{"action": "terminate"|"stop"|"hibernate", "time": "…Z"}``).

GCP says ``TRUE`` at ``/computeMetadata/v1/instance/preempted`` once it
preempts the VM, about 30 s before it stops it; a poll every ``POLL_S`` (no
``wait_for_change`` hanging get: a short poll also serves the ``stop`` event)
leaves most of that. Azure posts Scheduled Events (``/metadata/scheduledevents``)
to every VM of an availability set or scale set: a ``Preempt`` (spot eviction,
at least 30 s ahead) or ``Terminate`` counts only when the VM's own name is
among its ``Resources``. The agent does not approve the event early (``POST``
``StartRequests``): Azure evicts at ``NotBefore`` anyway, and an early approval
would cut short the workers' hand-back for a few seconds' billing; the control
plane, told, ends the VM itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from agents.instance_metadata import (
    AZURE_METADATA_URL,
    GCP_METADATA_URL,
    AzureImds,
    GcpMetadata,
    base_url,
)
from aima_tasks.kernel.instance_env import (
    DEFAULT_METADATA_URL,
    PREEMPTION_ENV,
    NoticeSource,
)

log = logging.getLogger(__name__)

POLL_S = 5.0
# Another polling interval (seconds), for tests that cannot wait 5 s per poll.
POLL_ENV = "AIMA_PREEMPTION_POLL_S"
TIMEOUT_S = 2.0
TOKEN_TTL_S = 21600
# A token is fetched again this long before it would expire.
TOKEN_MARGIN_S = 60
# GCP stops a preempted VM about this long after it says so.
GCP_NOTICE_S = 30
AZURE_EVENTS_API = "2020-07-01"
# Azure enables Scheduled Events for a VM on its first request, which may take
# up to two minutes to answer; later ones answer at once.
AZURE_FIRST_TIMEOUT_S = 120.0
# The Scheduled Events that take the VM away (Freeze, Reboot, Redeploy leave it).
AZURE_EVICTIONS = frozenset({"Preempt", "Terminate"})


@dataclass(frozen=True)
class Notice:
    action: str
    time: str

    def to_report(self) -> dict[str, str]:
        return {"action": self.action, "time": self.time}


class AwsSpotNotices:
    """The EC2 instance metadata service's spot interruption notice, over IMDSv2."""

    def __init__(self, base_url: str, clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self._token = ""
        self._token_until = 0.0

    def token(self) -> str:
        if not self._token or self.clock() >= self._token_until:
            request = urllib.request.Request(f"{self.base_url}/latest/api/token", method="PUT")
            request.add_header("X-aws-ec2-metadata-token-ttl-seconds", str(TOKEN_TTL_S))
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                self._token = response.read().decode().strip()
            self._token_until = self.clock() + TOKEN_TTL_S - TOKEN_MARGIN_S
        return self._token

    def poll(self) -> Notice | None:
        """The notice if there is one now; raises OSError when the service
        cannot be asked."""
        for attempt in range(2):
            request = urllib.request.Request(
                f"{self.base_url}/latest/meta-data/spot/instance-action")
            request.add_header("X-aws-ec2-metadata-token", self.token())
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    body = json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code == 401 and attempt == 0:
                    self._token = ""  # expired or revoked: a new one, once
                    continue
                raise
            except ValueError as exc:
                raise OSError(f"the spot notice is not JSON: {exc}") from None
            return Notice(action=str(body.get("action", "terminate")),
                          time=str(body.get("time", "")))
        return None


class GcpPreemption:
    """GCP's metadata server's ``instance/preempted``: ``TRUE`` once preempted."""

    def __init__(self, base: str = GCP_METADATA_URL,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.metadata = GcpMetadata(base)
        self.base_url = self.metadata.base_url
        self.now = now

    def poll(self) -> Notice | None:
        if self.metadata.text("instance/preempted") != "TRUE":
            return None
        # GCP names no time: the agent's estimate of when the VM stops.
        return Notice(action="preempt", time=iso(self.now() + timedelta(seconds=GCP_NOTICE_S)))


class AzureScheduledEvents:
    """Azure's Scheduled Events: a notice for an eviction of this very VM."""

    def __init__(self, base: str = AZURE_METADATA_URL):
        self.imds = AzureImds(base)
        self.base_url = self.imds.base_url
        self._name = ""
        self._enabled = False

    def name(self) -> str:
        if not self._name:
            self._name = str(self.imds.compute().get("name") or "")
            if not self._name:
                raise OSError("the instance metadata names no VM")
        return self._name

    def poll(self) -> Notice | None:
        timeout_s = TIMEOUT_S if self._enabled else AZURE_FIRST_TIMEOUT_S
        document = self.imds.json("scheduledevents", AZURE_EVENTS_API, timeout_s=timeout_s)
        self._enabled = True
        for event in document.get("Events") or []:
            if (event.get("EventType") in AZURE_EVICTIONS
                    and self.name() in (event.get("Resources") or [])):
                return Notice(action=str(event["EventType"]).lower(),
                              time=from_http_date(str(event.get("NotBefore") or "")))
        return None


class Notices(Protocol):
    """A provider's preemption notices, as the agent polls them."""

    base_url: str

    def poll(self) -> Notice | None:
        """The notice if there is one now; OSError when the service cannot be asked."""


def from_env(env: Mapping[str, str]) -> Notices | None:
    """The notices this host's boot environment says to poll; None: not a spot host."""
    named = env.get(PREEMPTION_ENV, "").strip()
    if not named:
        return None
    try:
        source = NoticeSource(named)
    except ValueError:
        raise ValueError(f"{PREEMPTION_ENV}={named!r}: use one of "
                         f"{', '.join(s.value for s in NoticeSource)}") from None
    if source == NoticeSource.GCP:
        return GcpPreemption(base_url(env, GCP_METADATA_URL))
    if source == NoticeSource.AZURE:
        return AzureScheduledEvents(base_url(env, AZURE_METADATA_URL))
    return AwsSpotNotices(base_url(env, DEFAULT_METADATA_URL))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_http_date(value: str) -> str:
    """Azure's ``NotBefore`` (``Mon, 19 Sep 2016 18:29:47 GMT``; empty once the
    event started) as the ISO time AWS's notices carry; as given if unreadable."""
    try:
        return iso(parsedate_to_datetime(value)) if value else ""
    except (TypeError, ValueError):
        return value


def poll_every_s(env: Mapping[str, str]) -> float:
    raw = env.get(POLL_ENV, "").strip()
    try:
        return float(raw) if raw else POLL_S
    except ValueError:
        raise ValueError(f"{POLL_ENV}={raw!r} is not a number of seconds") from None


def watch(notices: Notices, on_notice: Callable[[Notice], None],
          stop: threading.Event, every_s: float = POLL_S) -> None:
    """Poll until a notice comes (then ``on_notice`` once) or ``stop`` is set."""
    while not stop.wait(every_s):
        try:
            notice = notices.poll()
        except OSError as exc:
            log.warning("could not read the spot preemption notice: %s", exc)
            continue
        if notice is not None:
            log.warning("spot preemption notice: %s at %s", notice.action, notice.time)
            on_notice(notice)
            return
