"""The beat's audit checkpoint: anchors the audit chain's head outside the database."""

from __future__ import annotations

import logging

from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.audit import checkpoints
from aima_web.celery import app

log = logging.getLogger(__name__)


@app.task(**task_options(TaskName.AUDIT_CHECKPOINT))
def checkpoint_task() -> int | None:
    """The head's seq when a checkpoint was written; None when nothing was new.
    A broken chain is not anchored: it is logged as an error, every time, until
    someone looks (``manage.py aima_audit verify``)."""
    try:
        written = checkpoints.write()
    except checkpoints.CheckpointError as exc:
        log.error("audit checkpoint refused: %s", exc)
        return None
    return written.seq if written else None
