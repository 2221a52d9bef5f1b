"""Which of an agent's GPUs take work now: the control plane's word, sent
with every registration and heartbeat answer. A GPU in maintenance (drained
from the admin or the API), failed or retired takes none; nor does one outside
its availability window, a wall-clock window in the control plane's time zone.
The agent stops such a GPU's worker after the task at hand, and starts it
again when the answer changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from aima_tasks.kernel import schedule
from aima_tasks.kernel.classification import USABLE_GPU_STATUSES, GpuStatus
from aima_web.fleet.models import LocalGPU


def serving(gpu: LocalGPU, now: datetime) -> dict[str, object]:
    if GpuStatus(gpu.status) not in USABLE_GPU_STATUSES:
        # Telemetry's reason (a failed or alerted GPU) goes to the agent's log.
        why = f": {gpu.health_reason}" if gpu.health_reason else ""
        return {"serve": False, "reason": f"the GPU is {gpu.status}{why}"}
    if not schedule.parse(gpu.availability_schedule).is_open(now):
        return {"serve": False,
                "reason": f"outside its availability window ({gpu.availability_schedule})"}
    return {"serve": True, "reason": ""}


def serving_by_uuid(gpus: Iterable[LocalGPU], now: datetime | None = None) -> dict[str, dict]:
    """Each GPU's word by UUID; a cloud agent's GPUs, not in the local fleet,
    are not named and keep taking work."""
    now = timezone.localtime(now)
    return {gpu.uuid: serving(gpu, now) for gpu in gpus if gpu.uuid}
