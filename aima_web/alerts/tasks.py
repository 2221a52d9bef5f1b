"""The alert pass on the control queue, every evaluate.EVERY_S on the beat."""

from __future__ import annotations

from django.utils import timezone

from aima_tasks.kernel.routing import TaskName
from aima_tasks.policy import task_options
from aima_web.alerts.evaluate import evaluate
from aima_web.celery import app


@app.task(**task_options(TaskName.ALERTS))
def evaluate_alerts() -> dict[str, int]:
    return evaluate(timezone.now())
