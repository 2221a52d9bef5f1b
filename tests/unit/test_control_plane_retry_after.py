"""An agent reads the control plane's Retry-After (seconds or an HTTP date) and waits
that long, bounded, before calling again; without one, its own default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from agents.control_plane import (
    MAX_RETRY_AFTER_S,
    MIN_WAIT_S,
    Unavailable,
    Unreachable,
    retry_after_s,
    wait_s,
)


def test_retry_after_is_read_as_seconds_or_a_date_and_bounded():
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert retry_after_s("5") == 5
    assert retry_after_s(" 12 ") == 12
    assert retry_after_s(format_datetime(now + timedelta(seconds=20), usegmt=True), now) == 20
    assert retry_after_s(format_datetime(now - timedelta(seconds=20), usegmt=True), now) == 0
    assert retry_after_s("86400") == MAX_RETRY_AFTER_S
    assert retry_after_s(None) is None
    assert retry_after_s("") is None
    assert retry_after_s("soon") is None
    assert retry_after_s("-3") is None


def test_the_wait_after_a_failure_is_what_the_control_plane_asked_for():
    assert wait_s(Unavailable("503", retry_after_s=7), 1) == 7
    assert wait_s(Unavailable("503", retry_after_s=0), 16) == MIN_WAIT_S
    assert wait_s(Unavailable("503"), 16) == 16
    assert wait_s(Unreachable("refused"), 2) == 2
