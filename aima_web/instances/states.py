"""An instance's state machine: the moves allowed between its states, the
sets of states the rest of the app asks about, and the one way to move.

requested → provisioning → booting → ready (its agent registered) → busy ↔
idle → terminating → terminated, or failed. Every move is a conditional
update, so the beat's tick, launch tasks and agent callbacks may race safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aima_web.instances.models import CloudInstance, InstanceState

# States in which the provider may be billing for it.
BILLABLE = frozenset({InstanceState.PROVISIONING, InstanceState.BOOTING, InstanceState.READY,
                      InstanceState.BUSY, InstanceState.IDLE, InstanceState.TERMINATING})
ENDED = frozenset({InstanceState.TERMINATED, InstanceState.FAILED})
# Given up: ended, or being ended. A job running on one is stranded.
ENDING = ENDED | {InstanceState.TERMINATING}
# Its agent registered and may take a job now.
AVAILABLE = frozenset({InstanceState.READY, InstanceState.IDLE})
# Its agent registered, with or without a job.
WITH_AGENT = AVAILABLE | {InstanceState.BUSY}
# Waiting for a launch slot (REQUESTED) or an agent: these take queued work.
WAITING_FOR_WORK = AVAILABLE | {InstanceState.REQUESTED, InstanceState.PROVISIONING,
                                InstanceState.BOOTING}

# Which states an instance may enter from which. Terminating is open to every
# billable state (again from terminating: the provider is asked once more) and
# to a requested one (a failed instance whose launch never began); nothing
# leaves an ended state.
SOURCES: dict[InstanceState, frozenset[InstanceState]] = {
    InstanceState.REQUESTED: frozenset({InstanceState.PROVISIONING}),  # a launch to retry
    InstanceState.PROVISIONING: frozenset({InstanceState.REQUESTED}),
    InstanceState.BOOTING: frozenset({InstanceState.PROVISIONING}),
    # Provisioning too: the agent may come up before the provider's API answers.
    InstanceState.READY: frozenset({InstanceState.PROVISIONING, InstanceState.BOOTING}),
    InstanceState.BUSY: AVAILABLE,
    InstanceState.IDLE: frozenset({InstanceState.BUSY}),
    InstanceState.TERMINATING: BILLABLE | {InstanceState.REQUESTED},
    InstanceState.TERMINATED: frozenset({InstanceState.TERMINATING}),
    InstanceState.FAILED: frozenset({InstanceState.TERMINATING, InstanceState.PROVISIONING}),
}

# How much of an error message a row keeps.
ERROR_CHARS = 4000


def transition(instance_id: int, to: InstanceState,
               among: Iterable[InstanceState] | None = None, **fields: Any) -> bool:
    """Move an instance to ``to`` if the table allows it from its current
    state (and that state is among ``among``, where a caller wants fewer);
    return whether it moved. One conditional UPDATE: of racing movers, one wins."""
    sources = SOURCES[to] if among is None else SOURCES[to] & frozenset(among)
    return CloudInstance.objects.filter(pk=instance_id, state__in=sources).update(
        state=to, **fields) == 1
