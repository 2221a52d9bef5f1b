"""The beat's retention sweep: media and results past their period go (aima_web.privacy)."""

from __future__ import annotations

import logging

from django.utils import timezone

from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.celery import app
from aima_web.privacy import retention

log = logging.getLogger(__name__)


@app.task(**task_options(TaskName.RETENTION))
def retention_task() -> None:
    swept = retention.sweep(timezone.now())
    if swept.media or swept.results:
        log.info("retention deleted %d media files and the results of %d jobs",
                 swept.media, swept.results)
