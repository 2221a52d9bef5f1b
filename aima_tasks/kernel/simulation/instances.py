"""Cloud instances in the replay: launch, reuse, idle, pause and resume,
interruption and termination, with billing per segment and the month's spend.

A mixin of the replay (``replay._Replay``): it shares the replay's clock,
event queue and job lists. An idle instance waits the grace period for the
next job of its offer; past it, it is kept warm (``warm``), paused (``pause``,
as kernel/idle_policy.py decides) or ended. A paused instance bills only its
disk, holds its slot of the offer's capacity, and resumes in ``resume_s``
instead of a boot; it is ended after the pause grace.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from datetime import datetime, tzinfo

from aima_tasks.kernel import idle_policy
from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.simulation.demand import Demand, worth_warming
from aima_tasks.kernel.simulation.options import ReplayOptions

NAN = math.nan
INF = math.inf
# Event kinds of the cloud; replay.py numbers the rest after these. At equal
# times the lower runs first: work finishing frees its instance before
# anything else happens then.
DONE_CLOUD, INTERRUPT, IDLE_END, PAUSE_END, TICK = range(5)


class CloudPool:
    # Shared with the replay (set in its __init__).
    jobs: list
    events: list[tuple[float, int, int, int]]
    runtime: list[float]
    start: list[float]
    finish: list[float]
    options: ReplayOptions
    demand: Demand | None
    grace: float
    rng: random.Random
    zone: tzinfo
    last_arrival_s: float

    def _init_cloud(self, offers: tuple[Offer, ...], capacity: tuple[int | None, ...],
                    upload_mbps: float, interruption_per_hour: float,
                    track_month: bool) -> None:
        count = len(self.jobs)
        self.ready = [NAN] * count
        self.work = [NAN] * count
        self.offers = offers
        self.capacity = capacity
        self.upload_rate = [min(upload_mbps, o.bandwidth_mbps) * 1e6 / 8 for o in offers]
        self.interrupt_rate = [
            (o.interruption_per_hour if o.interruption_per_hour is not None
             else interruption_per_hour) / 3600 for o in offers]
        pause = self.options.pause
        self.pause_terms = [pause.terms.get(o.provider) if pause else None for o in offers]
        self.live = [0] * len(offers)
        self.waiting: list[list[tuple[int, float, int, bool]]] = [[] for _ in offers]
        self.idle: dict[tuple[int, bool], list[int]] = {}
        self.paused: dict[int, list[int]] = {}
        self.inst_offer: list[int] = []
        self.inst_spot: list[bool] = []
        self.inst_since: list[float] = []  # start of the segment being billed
        self.inst_price: list[float] = []
        self.inst_interrupt: list[float] = []
        self.inst_gen: list[int] = []
        self.inst_idle_since: list[float] = []
        self.inst_ready: list[float] = []
        self.inst_paused: list[bool] = []
        self.alive: set[int] = set()
        self.track_month = track_month
        self.month_closed: Counter[tuple[int, int]] = Counter()
        self.cost: Counter[str] = Counter()
        self.interruptions = 0
        self.rework_s = 0.0
        self.idle_gpu_s = 0.0
        self.pauses = self.resumes = self.warm_launches = 0
        # GPU class -> the (offer, spot) its last cloud job asked for: what to warm.
        self.class_offer: dict[int, tuple[int, bool]] = {}

    def _push(self, when: float, kind: int, first: int, second: int) -> None:
        heapq.heappush(self.events, (when, kind, first, second))

    # ------------------------------------------------------------ requests

    def _request(self, job: int, offer: int, spot: bool, now: float) -> None:
        pool = self.idle.get((offer, spot))
        if pool:
            instance = pool.pop()
            self._leave_idle(instance, now)
            self._assign(instance, job, now, max(self.inst_ready[instance] - now, 0.0))
            return
        paused = self.paused.get(offer)
        if paused and not spot:
            instance = paused.pop()
            self._resume(instance, now)
            self._assign(instance, job, now, self.inst_ready[instance] - now)
            return
        limit = self.capacity[offer]
        if limit is None or self.live[offer] < limit:
            self._assign(self._launch(offer, spot, now), job, now, self.offers[offer].boot_s)
            return
        # An idle instance of the other purchase option, or a paused one, holds
        # the slot: trade it in.
        other = self.idle.get((offer, not spot)) or paused
        if other:
            instance = other.pop()
            if self.inst_paused[instance]:
                self._end_paused(instance, now)
            else:
                self._leave_idle(instance, now)
                self._terminate(instance, now)
            self._assign(self._launch(offer, spot, now), job, now, self.offers[offer].boot_s)
            return
        trace_job = self.jobs[job]
        heapq.heappush(self.waiting[offer],
                       (-trace_job.spec.priority, trace_job.arrival_s, job, spot))

    def _launch(self, offer: int, spot: bool, now: float) -> int:
        instance = len(self.inst_offer)
        terms = self.offers[offer]
        rate = self.interrupt_rate[offer]
        self.inst_offer.append(offer)
        self.inst_spot.append(spot)
        self.inst_since.append(now)
        self.inst_price.append(terms.spot_price_per_hour if spot else terms.price_per_hour)
        # Memoryless: one draw at launch is the instance's whole interruption process.
        self.inst_interrupt.append(now + self.rng.expovariate(rate) if spot and rate > 0
                                   else INF)
        self.inst_gen.append(0)
        self.inst_idle_since.append(NAN)
        self.inst_ready.append(now + terms.boot_s)
        self.inst_paused.append(False)
        self.live[offer] += 1
        self.alive.add(instance)
        return instance

    def _assign(self, instance: int, job: int, now: float, boot_s: float) -> None:
        offer = self.inst_offer[instance]
        ready = now + boot_s
        work = ready + self.jobs[job].spec.size_bytes / self.upload_rate[offer]
        end = work + self.runtime[job]
        self.ready[job] = ready
        self.work[job] = work
        lost_at = self.inst_interrupt[instance]
        if lost_at < end:
            self._push(lost_at, INTERRUPT, instance, job)
        else:
            self._push(end, DONE_CLOUD, instance, job)

    def _done_cloud(self, now: float, instance: int, job: int) -> None:
        self.finish[job] = now
        if math.isnan(self.start[job]):
            self.start[job] = self.work[job]
        self._release(instance, now)

    def _interrupt(self, now: float, instance: int, job: int) -> None:
        self.interruptions += 1
        if now > self.work[job] and math.isnan(self.start[job]):
            self.start[job] = self.work[job]
        # Upload and analysis done on the lost instance are done again.
        self.rework_s += max(now - self.ready[job], 0.0)
        offer, spot = self.inst_offer[instance], self.inst_spot[instance]
        self._terminate(instance, now)
        self._request(job, offer, spot, now)
        self._serve_waiting(offer, now)

    def _release(self, instance: int, now: float) -> None:
        offer, spot = self.inst_offer[instance], self.inst_spot[instance]
        waiting = self.waiting[offer]
        if waiting:
            _, _, job, wants_spot = heapq.heappop(waiting)
            if wants_spot == spot:
                self._assign(instance, job, now, 0.0)
            else:
                self._terminate(instance, now)
                self._assign(self._launch(offer, wants_spot, now), job, now,
                             self.offers[offer].boot_s)
            return
        self._enter_idle(instance, now, now + self.grace)

    def _enter_idle(self, instance: int, now: float, until: float) -> None:
        self.inst_idle_since[instance] = now
        self.inst_gen[instance] += 1
        self.idle.setdefault((self.inst_offer[instance], self.inst_spot[instance]),
                             []).append(instance)
        self._push(min(until, self.inst_interrupt[instance]), IDLE_END, instance,
                   self.inst_gen[instance])

    def _leave_idle(self, instance: int, now: float) -> None:
        gpus = self.offers[self.inst_offer[instance]].gpu_count
        # Idle from when it was ready: a warm launch's boot is no idle GPU time.
        since = max(self.inst_idle_since[instance], min(self.inst_ready[instance], now))
        self.idle_gpu_s += (now - since) * gpus
        self.inst_idle_since[instance] = NAN
        self.inst_gen[instance] += 1

    def _serve_waiting(self, offer: int, now: float) -> None:
        waiting = self.waiting[offer]
        limit = self.capacity[offer]
        while waiting and (limit is None or self.live[offer] < limit):
            _, _, job, spot = heapq.heappop(waiting)
            self._request(job, offer, spot, now)

    # ------------------------------------------------------------ idle, pause, warm

    def _idle_end(self, now: float, instance: int, generation: int) -> None:
        if generation != self.inst_gen[instance] or math.isnan(self.inst_idle_since[instance]):
            return  # reused since this expiry was set
        offer, spot = self.inst_offer[instance], self.inst_spot[instance]
        lost = self.inst_interrupt[instance] <= now
        if not lost and self._keep_warm(instance, now):
            self._push(now + self.options.warm.step_s, IDLE_END, instance, generation)
            return
        self.idle[(offer, spot)].remove(instance)
        self._leave_idle(instance, now)
        if lost:
            self.interruptions += 1
        elif self._should_pause(instance, now):
            self._pause(instance, now)
            return
        self._terminate(instance, now)
        self._serve_waiting(offer, now)

    def _expected(self, offer: int, now: float, seconds: float) -> float:
        classes = [c for c, (o, _) in self.class_offer.items() if o == offer]
        if self.demand is None:
            return 0.0
        return sum(self.demand.expected_cloud_jobs(c, now, seconds) for c in classes)

    def _keep_warm(self, instance: int, now: float) -> bool:
        warm = self.options.warm
        if warm is None or now >= self.last_arrival_s:
            return False
        offer = self.inst_offer[instance]
        return worth_warming(self._expected(offer, now, warm.step_s), warm.step_s,
                             self.offers[offer].boot_s, self.inst_price[instance],
                             warm.value_per_wait_hour)

    def _should_pause(self, instance: int, now: float) -> bool:
        offer = self.inst_offer[instance]
        terms = self.pause_terms[offer]
        pause = self.options.pause
        if terms is None or pause is None or self.inst_spot[instance]:
            return False
        facts = idle_policy.IdleFacts(
            price_per_hour=self.inst_price[instance],
            paused_price_per_hour=terms.paused_price_per_hour,
            boot_s=self.offers[offer].boot_s, resume_s=terms.resume_s,
            expected_jobs=self._expected(offer, now, pause.horizon_s),
            horizon_s=pause.horizon_s, idle_s=self.grace, idle_grace_s=self.grace,
            pause_grace_s=pause.pause_grace_s)
        return idle_policy.decide(facts).action == idle_policy.IdleAction.PAUSE

    def _pause(self, instance: int, now: float) -> None:
        self._bill(instance, now)
        self.inst_paused[instance] = True
        self.inst_price[instance] = self.pause_terms[self.inst_offer[instance]] \
            .paused_price_per_hour
        self.paused.setdefault(self.inst_offer[instance], []).append(instance)
        self.pauses += 1
        self.inst_gen[instance] += 1
        self._push(now + self.options.pause.pause_grace_s, PAUSE_END, instance,
                   self.inst_gen[instance])

    def _resume(self, instance: int, now: float) -> None:
        self._bill(instance, now)
        offer = self.inst_offer[instance]
        self.inst_paused[instance] = False
        self.inst_price[instance] = self.offers[offer].price_per_hour
        self.inst_ready[instance] = now + self.pause_terms[offer].resume_s
        self.inst_gen[instance] += 1
        self.resumes += 1

    def _pause_end(self, now: float, instance: int, generation: int) -> None:
        if generation != self.inst_gen[instance] or not self.inst_paused[instance]:
            return
        offer = self.inst_offer[instance]
        self.paused[offer].remove(instance)
        self._end_paused(instance, now)
        self._serve_waiting(offer, now)

    def _end_paused(self, instance: int, now: float) -> None:
        self.inst_paused[instance] = False
        self.inst_gen[instance] += 1
        self._terminate(instance, now)

    def _tick(self, now: float, _first: int, _second: int) -> None:
        """Every ``step_s``: launch an instance ahead of forecast demand for each
        GPU class's usual offer that has none ready (idle or paused), where
        that is worth it."""
        warm = self.options.warm
        for offer, spot in sorted(set(self.class_offer.values())):
            if self.idle.get((offer, spot)) or (self.paused.get(offer) and not spot):
                continue
            terms = self.offers[offer]
            limit = self.capacity[offer]
            if limit is not None and self.live[offer] >= limit:
                continue
            price = terms.spot_price_per_hour if spot else terms.price_per_hour
            # Launched now, it serves the jobs until the next look and those
            # arriving while it boots (they wait what is left of the boot).
            span = warm.step_s + terms.boot_s
            if worth_warming(self._expected(offer, now, span), span, terms.boot_s,
                             price or 0.0, warm.value_per_wait_hour):
                self.warm_launches += 1
                self._enter_idle(self._launch(offer, spot, now), now, now + span)
        # Warming after the last arrival serves no one.
        if now + warm.step_s <= self.last_arrival_s:
            self._push(now + warm.step_s, TICK, 0, 0)

    # ------------------------------------------------------------ billing

    def _terminate(self, instance: int, now: float) -> None:
        self._bill(instance, now)
        self.live[self.inst_offer[instance]] -= 1
        self.alive.discard(instance)

    def _bill(self, instance: int, now: float) -> None:
        """Close the instance's billing segment at ``now`` and open the next."""
        since, price = self.inst_since[instance], self.inst_price[instance]
        self.cost[self.offers[self.inst_offer[instance]].provider] += price * (now - since) / 3600
        if self.track_month:
            for month, seconds in self._months(since, now):
                self.month_closed[month] += price * seconds / 3600
        self.inst_since[instance] = now

    def _month_spend(self, now: float) -> float:
        """Cloud spend of the current calendar month so far, running instances included."""
        month, month_start = self._month_of(now)
        spend = self.month_closed[month]
        for instance in self.alive:
            since = max(self.inst_since[instance], month_start)
            spend += self.inst_price[instance] * (now - since) / 3600
        return spend

    def _month_of(self, moment: float) -> tuple[tuple[int, int], float]:
        local = datetime.fromtimestamp(moment, self.zone)
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (local.year, local.month), start.timestamp()

    def _months(self, begin: float, end: float) -> list[tuple[tuple[int, int], float]]:
        parts = []
        while begin < end:
            month, _ = self._month_of(begin)
            year, number = month
            following = datetime(year + number // 12, number % 12 + 1, 1,
                                 tzinfo=self.zone).timestamp()
            parts.append((month, min(end, following) - begin))
            begin = following
        return parts
