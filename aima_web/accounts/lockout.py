"""Audits the moment an account is locked out (django-axes' ``user_locked_out``).

Axes sends the signal on every refused attempt while the lock lasts; the
trail gets one ``account.locked`` when the lock begins (each refused attempt
is already there as a failed login).
"""

from __future__ import annotations

from axes.helpers import get_failure_limit
from axes.signals import user_locked_out
from django.dispatch import receiver

from aima_web.audit import trail


@receiver(user_locked_out)
def record_lockout(sender, request, username: str | None, ip_address: str | None,
                   **kwargs) -> None:
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != get_failure_limit(request, getattr(request, "axes_credentials", None)):
        return
    trail.record(trail.SYSTEM, "account.locked", f"user:{username}", ip_address=ip_address,
                 failures=failures, path=getattr(request, "axes_path_info", ""))
