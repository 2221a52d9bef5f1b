"""A job's state machine: the states, the moves between them, and when each
state was entered."""

from __future__ import annotations

from django.db import models


class JobState(models.TextChoices):
    RECEIVED = "received"
    PROBING = "probing"
    PLACING = "placing"
    # Held by placement until cheaper off-peak hours (``Job.deferred_until``), then
    # placed again: never past its deadline (aima_web/jobs/deferral.py).
    DEFERRED = "deferred"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# Sent to a GPU queue and not ended: the states an agent may take, fetch and run a job in.
WORKING = frozenset({JobState.QUEUED, JobState.RUNNING})
ACTIVE = frozenset(JobState) - TERMINAL
# Held for off-peak hours: placement decided, on purpose, to place it later.
HELD = frozenset({JobState.DEFERRED})
# Not ended and not yet on a GPU queue: the control worker still checks or places it.
UNPLACED = ACTIVE - WORKING - HELD

# Which states a job may enter from which. Failing and cancelling are possible
# from every active state; nothing leaves a terminal state.
SOURCES: dict[JobState, frozenset[JobState]] = {
    JobState.PROBING: frozenset({JobState.RECEIVED}),
    # Again from deferred: released when its off-peak hour has come.
    JobState.PLACING: frozenset({JobState.PROBING, JobState.DEFERRED}),
    JobState.DEFERRED: frozenset({JobState.PLACING}),
    JobState.QUEUED: frozenset({JobState.PLACING}),
    JobState.RUNNING: frozenset({JobState.QUEUED}),
    JobState.SUCCEEDED: frozenset({JobState.RUNNING}),
    JobState.FAILED: ACTIVE,
    JobState.CANCELLED: ACTIVE,
}

# The timestamp field each state stamps on entry.
STAMP_FIELD: dict[JobState, str] = {
    JobState.PROBING: "probing_at",
    JobState.PLACING: "placing_at",
    JobState.DEFERRED: "deferred_at",
    JobState.QUEUED: "queued_at",
    JobState.RUNNING: "running_at",
    JobState.SUCCEEDED: "finished_at",
    JobState.FAILED: "finished_at",
    JobState.CANCELLED: "finished_at",
}
