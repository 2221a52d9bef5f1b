"""Faults: a database or message broker that cannot be reached, stored data that
does not open, or a media store that is full or failing, is a 503 with Retry-After,
never a 500.

``exception_handler`` is REST_FRAMEWORK's EXCEPTION_HANDLER (everything else goes to
DRF's own handler); outside DRF's views (the admin, the logins) the 500 handler asks
``fault_for`` too (aima_web/core/error_pages.py).
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from aima_web.privacy.keyring import KeyringError
from aima_web.privacy.sealing import Unreadable

logger = logging.getLogger(__name__)

# A database restart or failover and a broker restart take seconds; agents wait what
# this says before their next heartbeat or registration (agents/control_plane.py), so
# it is short: a longer wait would outlast the time after which an agent counts as lost.
RETRY_AFTER_S = 5

_FAULTS: dict[type[BaseException], str] = {
    OperationalError: "the database is unavailable",
    InterfaceError: "the database is unavailable",
    BrokerError: "the message broker is unreachable",
    KeyringError: "the keys of the stored data are unavailable",
    Unreadable: "stored data does not open (altered, or sealed with a key no longer held)",
}

# The disk under AIMA_MEDIA_ROOT full, over quota, read-only or failing: the operator's
# to fix, the client's to retry. Any other OSError is a bug and stays a 500.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def fault_for(exc: BaseException | None) -> str | None:
    """What the fault ``exc`` is, in words a client can act on; None: it is no fault."""
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return "the media storage is full or failing"
    return next((what for kind, what in _FAULTS.items() if isinstance(exc, kind)), None)


def detail(fault: str) -> str:
    """A fault's answer to the client."""
    return f"{fault}; try again later"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    fault = fault_for(exc)
    if fault is None:
        return drf_exception_handler(exc, context)
    # Logged in full: the answer says only what the client can act on.
    logger.error("%s: answered 503", fault, exc_info=exc)
    set_rollback()
    return Response({"detail": detail(fault)},
                    status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(RETRY_AFTER_S)})
