"""Cloud demand as the job history shows it: the forecast (``kernel/forecast.py``)
of cloud jobs per GPU class and hour of the week, which the idle policy asks
whether work of an instance's class is coming (``pausing.py``) and warm
capacity whether a burst is due (``warm.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aima_tasks.kernel.forecast import DemandForecast, forecast
from aima_tasks.kernel.routing import Scope
from aima_web.jobs.models import Job

# Weeks of history the forecast averages.
WEEKS = 4


def cloud_forecast(now: datetime, min_history: timedelta = timedelta(0)) -> DemandForecast:
    """Cloud arrivals per class and hour of the week over the last ``WEEKS``:
    each cloud job counts when it was queued (when it wanted an instance). A
    young deployment's history is averaged over the hours it covers, not read
    as quiet weeks before it existed; one younger than ``min_history``
    forecasts nothing."""
    rows = (Job.objects.filter(placement__scope=Scope.CLOUD.value,
                               queued_at__gte=now - timedelta(weeks=WEEKS), queued_at__lt=now)
            .values_list("queued_at", "placement__gpu_class"))
    arrivals = [(at, int(gpu_class)) for at, gpu_class in rows if gpu_class is not None]
    first = Job.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None or now - first < min_history:
        return forecast([], now, weeks=WEEKS)
    return forecast(arrivals, now, weeks=WEEKS, since=first)
