"""An instance's state machine: the moves allowed between its states, the
sets of states the rest of the app asks about, and the one way to move.

requested → provisioning → booting → ready (its agent registered) → busy ↔
idle → terminating → terminated, or failed. Where its provider can pause it,
idle → pausing → paused → resuming → ready (its agent registered again), and
a paused one is terminated after the pause grace. Every move is a conditional
update, so the beat's tick, launch tasks and agent callbacks may race safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aima_web.instances.models import CloudInstance, InstanceState

# Paused, it bills at the paused price (its disk) rather than the running one.
BILLED_PAUSED = frozenset({InstanceState.PAUSED})
# Stopped or being stopped or started again: no agent serves from it.
PAUSE_STATES = BILLED_PAUSED | {InstanceState.PAUSING, InstanceState.RESUMING}
# States in which the provider may be billing for it.
BILLABLE = frozenset({InstanceState.PROVISIONING, InstanceState.BOOTING, InstanceState.READY,
                      InstanceState.BUSY, InstanceState.IDLE, InstanceState.TERMINATING}
                     ) | PAUSE_STATES
ENDED = frozenset({InstanceState.TERMINATED, InstanceState.FAILED})
# Given up: ended, or being ended.
ENDING = ENDED | {InstanceState.TERMINATING}
# A job running on one is stranded: its task goes back to the queue.
STRANDING = ENDING | PAUSE_STATES
# Its agent registered and may take a job now.
AVAILABLE = frozenset({InstanceState.READY, InstanceState.IDLE})
# Its agent registered, with or without a job.
WITH_AGENT = AVAILABLE | {InstanceState.BUSY}
# Waiting for a launch slot (REQUESTED) or an agent: these take queued work.
WAITING_FOR_WORK = AVAILABLE | {InstanceState.REQUESTED, InstanceState.PROVISIONING,
                                InstanceState.BOOTING, InstanceState.RESUMING}

# Which states an instance may enter from which. Terminating is open to every
# billable state (again from terminating: the provider is asked once more) and
# to a requested one (a failed instance whose launch never began); nothing
# leaves an ended state.
SOURCES: dict[InstanceState, frozenset[InstanceState]] = {
    InstanceState.REQUESTED: frozenset({InstanceState.PROVISIONING}),  # a launch to retry
    InstanceState.PROVISIONING: frozenset({InstanceState.REQUESTED}),
    InstanceState.BOOTING: frozenset({InstanceState.PROVISIONING}),
    # Provisioning too: the agent may come up before the provider's API answers.
    InstanceState.READY: frozenset({InstanceState.PROVISIONING, InstanceState.BOOTING,
                                    InstanceState.RESUMING}),
    InstanceState.BUSY: AVAILABLE,
    # Pausing too: the provider refused to pause it, the policy decides again.
    InstanceState.IDLE: frozenset({InstanceState.BUSY, InstanceState.PAUSING}),
    InstanceState.PAUSING: AVAILABLE,
    InstanceState.PAUSED: frozenset({InstanceState.PAUSING}),
    InstanceState.RESUMING: frozenset({InstanceState.PAUSED}),
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
