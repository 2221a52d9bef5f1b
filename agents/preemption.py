"""Spot preemption notices, polled every ``POLL_S`` seconds as SkyPilot's
managed jobs do: on a notice the agent stops taking work and hands its
unfinished units back at once, rather than losing them with the host.

AWS posts the notice two minutes ahead in the instance metadata (IMDSv2: a
session token from ``PUT /latest/api/token``, then ``GET
/latest/meta-data/spot/instance-action``: 404 while there is none, else
``{"action": "terminate"|"stop"|"hibernate", "time": "…Z"}``). GCP's
``preempted`` and Azure's Scheduled Events come with their providers.
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

from aima_tasks.kernel.instance_env import (
    DEFAULT_METADATA_URL,
    METADATA_URL_ENV,
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


def from_env(env: Mapping[str, str]) -> AwsSpotNotices | None:
    """The notices this host's boot environment says to poll; None: not a spot host."""
    named = env.get(PREEMPTION_ENV, "").strip()
    if not named:
        return None
    if named != NoticeSource.AWS:
        raise ValueError(f"{PREEMPTION_ENV}={named!r}: use one of "
                         f"{', '.join(s.value for s in NoticeSource)}")
    return AwsSpotNotices(env.get(METADATA_URL_ENV, "").strip() or DEFAULT_METADATA_URL)


def poll_every_s(env: Mapping[str, str]) -> float:
    raw = env.get(POLL_ENV, "").strip()
    try:
        return float(raw) if raw else POLL_S
    except ValueError:
        raise ValueError(f"{POLL_ENV}={raw!r} is not a number of seconds") from None


def watch(notices: AwsSpotNotices, on_notice: Callable[[Notice], None],
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
