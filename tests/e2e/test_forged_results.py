"""A forged ``finalize`` message on the broker (issue 12, hole 4), on real
processes and the configured broker (RabbitMQ in CI).

Before, any host that could publish to the ``control`` queue could end a
running job with results of its choosing. Now results arrive only over the
agent's authenticated HTTPS path, from the agent holding the unit: the control
worker has no task to run such a message, and the job ends with what its own
agent reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import samples
from aima_tasks.kernel.routing import CONTROL_QUEUE
from aima_web.celery import app
from devtools.stack import Stack

pytestmark = pytest.mark.e2e


def test_a_forged_finalize_message_changes_nothing(stack: Stack, tmp_path: Path):
    audio = samples.write_audio(tmp_path / "tone.wav")
    job_id = stack.api.submit(audio.path, analyses=["loudness"])["id"]
    forged = {"job_id": job_id, "status": "done", "agent_id": 1, "segment": 0,
              "results": [{"analysis": "loudness", "data": {"forged": True},
                           "started_at": "2026-01-01T00:00:00+00:00",
                           "finished_at": "2026-01-01T00:00:01+00:00"}], "errors": []}
    # As an attacker with write access to the control queue would send it.
    app.send_task("aima.finalize", args=(forged, job_id), queue=CONTROL_QUEUE)
    job = stack.api.wait(job_id, timeout_s=120)
    assert job["state"] == "succeeded", job["error"]
    [result] = stack.api.get(f"/api/v1/jobs/{job_id}/results/")
    assert "forged" not in result["data"] and "integrated_lufs" in result["data"]
    assert result["gpu_uuid"].startswith("SIM-")
    worker = next(p for p in stack.supervisor.processes if p.name == "control-worker")
    assert "unregistered task of type 'aima.finalize'" in worker.log_path.read_text()
