"""The embedded broker has no priorities (topology.declared_queues): GPU work
sent with priorities, as the control plane sends it, is taken whole and in
order of arrival, and declaring the priority queues there is no error."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from django.core.management import call_command
from kombu import Connection

from aima_tasks import broker, topology
from aima_tasks.kernel import routing

QUEUE = "gpu.local.24"


def test_priorities_are_ignored_and_work_arrives_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMA_VAR_DIR", str(tmp_path))
    units = [("low", 0), ("high", routing.MAX_PRIORITY), ("normal", routing.message_priority(0))]
    subprocess.run([sys.executable, "-c", (
        "import sys, json; from aima_tasks.celery_config import make_app; "
        "app = make_app('aima-control'); "
        "[app.send_task('aima.analyse', args=[{'job_id': j}], queue=sys.argv[2], priority=p) "
        " for j, p in json.loads(sys.argv[1])]"), json.dumps(units), QUEUE],
        env={**os.environ, "AIMA_VAR_DIR": str(tmp_path), "AIMA_BROKER_URL": ""},
        cwd=broker.PROJECT_ROOT, check=True, timeout=60)
    url = broker.EMBEDDED_BROKER_URL
    got = []
    with Connection(url, transport=broker.transport(url),
                    transport_options=broker.transport_options(url)) as conn:
        channel = conn.default_channel
        for queue in topology.declared_queues():
            queue(channel).declare()
        while (message := channel.basic_get(QUEUE, no_ack=True)) is not None:
            got.append(json.loads(message.body)[0][0]["job_id"])
    assert got == ["low", "high", "normal"]


def test_the_queue_upgrade_has_nothing_to_do_on_the_embedded_broker(settings):
    settings.AIMA_BROKER_URL = broker.EMBEDDED_BROKER_URL
    out = io.StringIO()
    call_command("aima_queues", "upgrade", stdout=out)
    assert "embedded broker has no priority queues" in out.getvalue()
