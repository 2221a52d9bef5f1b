"""A minimal agent worker for the broker tests: the agents' Celery app with
a stand-in ``aima.analyse`` that writes what it got to ``AIMA_TEST_DONE_FILE``.
``AIMA_TEST_APP=control`` builds the control plane's app instead, to show what
an agent that declares and publishes runs into."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aima_tasks.celery_config import make_agent_app, make_app
from aima_tasks.kernel.routing import TaskName

app = (make_app if os.environ.get("AIMA_TEST_APP") == "control" else make_agent_app)(
    "aima-agent-test")


@app.task(name=TaskName.ANALYSE.value)
def analyse(work_data: dict) -> None:
    Path(os.environ["AIMA_TEST_DONE_FILE"]).write_text(json.dumps(work_data))
