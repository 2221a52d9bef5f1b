"""The replay's view of demand: the trace's past arrivals per GPU class, the
forecast made from them (kernel/forecast.py) and the share of each class that
went to the cloud, for the pause and warm-capacity decisions.

Only arrivals before the moment asked about are known, as in production: the
forecast is remade from them once a simulated day.
"""

from __future__ import annotations

import math
from bisect import bisect_left

from aima_tasks.kernel import routing
from aima_tasks.kernel.forecast import DemandForecast, forecast, utc
from aima_tasks.kernel.placement import JobSpec

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


def gpu_class(spec: JobSpec) -> int | None:
    try:
        return routing.class_for_need(spec.vram_need_gb)
    except routing.NoGpuClass:
        return None


class Demand:
    def __init__(self, first_arrival_s: float, weeks: int) -> None:
        self.first_s = first_arrival_s
        self.weeks = weeks
        self.times: list[float] = []
        self.classes: list[int] = []
        self.arrived: dict[int, int] = {}
        self.to_cloud: dict[int, int] = {}
        self.made: DemandForecast | None = None
        self.made_day = -1

    def arrival(self, when_s: float, gpu_class_: int | None, cloud: bool) -> None:
        if gpu_class_ is None:
            return
        self.times.append(when_s)
        self.classes.append(gpu_class_)
        self.arrived[gpu_class_] = self.arrived.get(gpu_class_, 0) + 1
        if cloud:
            self.to_cloud[gpu_class_] = self.to_cloud.get(gpu_class_, 0) + 1

    def cloud_share(self, gpu_class_: int) -> float:
        arrived = self.arrived.get(gpu_class_, 0)
        return self.to_cloud.get(gpu_class_, 0) / arrived if arrived else 0.0

    def expected_cloud_jobs(self, gpu_class_: int, now_s: float, seconds: float) -> float:
        """Jobs of the class expected to need a cloud instance in [now, now + seconds),
        as the steady (Poisson) count with the same chance of at least one: the
        pause and warm rules assume steady arrivals, and a burst seen once in
        four weeks would otherwise count as an hour of steady demand every week."""
        share = self.cloud_share(gpu_class_)
        if share <= 0:
            return 0.0
        chance = self._forecast(now_s).chance(gpu_class_, utc(now_s), seconds, share)
        return -math.log1p(-min(chance, 1.0 - 1e-12))

    def _forecast(self, now_s: float) -> DemandForecast:
        day = math.floor(now_s / DAY_S)
        if self.made is None or day != self.made_day:
            # Made at the day's start from what had arrived by then.
            start = day * DAY_S
            first = bisect_left(self.times, start - self.weeks * WEEK_S)
            last = bisect_left(self.times, start)
            pairs = ((utc(t), c) for t, c in zip(self.times[first:last],
                                                 self.classes[first:last], strict=True))
            self.made = forecast(pairs, utc(start), self.weeks, since=utc(self.first_s))
            self.made_day = day
        return self.made


def worth_warming(expected_jobs: float, step_s: float, boot_s: float, price_per_hour: float,
                  value_per_wait_hour: float) -> bool:
    """Whether an instance ready over the next ``step_s`` pays for itself: the
    first job in that time (at ``expected_jobs`` per step, Poisson) starts
    ``boot_s`` sooner and pays no boot; until it comes the instance bills idle."""
    if expected_jobs <= 0 or step_s <= 0:
        return False
    rate = expected_jobs / step_s
    chance = 1.0 - math.exp(-rate * step_s)
    idle_s = chance / rate  # E[min(time to the first job, step)]
    saved = chance * boot_s * (value_per_wait_hour + price_per_hour) / 3600
    return saved > price_per_hour * idle_s / 3600
