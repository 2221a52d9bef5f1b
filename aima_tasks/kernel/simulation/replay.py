"""The discrete-event replay: jobs arrive in trace order, a placer decides
each one at its arrival time, and local GPUs and cloud instances play the
work out.

Local GPUs run one job at a time, highest priority first, then first come;
they start work only while their availability window is open (a running job
finishes). A cloud job needs an instance of its offer: an idle one is reused
without a boot, otherwise one is launched (billed from launch) up to the
offer's capacity, else the job waits for one to free. Media upload after the
boot at min(policy upload, offer bandwidth). A finished instance idles for
the grace period waiting for the next job of its offer, then is terminated.
Spot instances are lost at Poisson-distributed moments over their billed
time (a seeded RNG); the job then boots a new instance and redoes its
upload and work.

Times are POSIX seconds as floats; state lives in flat lists indexed by GPU,
offer, instance and job, so 100,000 jobs replay without an object per event.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from aima_tasks.kernel.placement import FleetState, RuntimeKnowledge
from aima_tasks.kernel.simulation import rules
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.offers import Market
from aima_tasks.kernel.simulation.outcome import Outcome, percentile
from aima_tasks.kernel.simulation.placing import Placer

__all__ = ["LOCAL", "replay"]

LOCAL = "local"
NAN = math.nan
INF = math.inf
# Below this a schedule's wait is float noise: the window is open.
_OPEN_EPSILON_S = 1e-3

# Event kinds; at equal times the lower runs first, so that work finishing at
# an instant frees its GPU or instance before anything else happens then.
_DONE_LOCAL, _DONE_CLOUD, _INTERRUPT, _IDLE_END, _WAKE = range(5)


def replay(jobs: Sequence[TraceJob], fleet: Fleet, market: Market, placer: Placer,
           seed: int = 0, knowledge: RuntimeKnowledge | None = None) -> Outcome:
    """Replay ``jobs`` (sorted by arrival) with ``placer`` deciding each one."""
    return _Replay(jobs, fleet, market, placer, seed, knowledge or RuntimeKnowledge()).run()


class _Replay:
    def __init__(self, jobs: Sequence[TraceJob], fleet: Fleet, market: Market, placer: Placer,
                 seed: int, knowledge: RuntimeKnowledge) -> None:
        self.jobs = jobs
        self.fleet = fleet
        self.placer = placer
        self.knowledge = knowledge
        self.zone = fleet.timezone
        self.grace = fleet.idle_grace_s
        self.rng = random.Random(seed)
        self.now_s = jobs[0].arrival_s if jobs else 0.0
        self.events: list[tuple[float, int, int, int]] = []
        count = len(jobs)
        self.start = [NAN] * count
        self.finish = [NAN] * count
        self.runtime = [0.0] * count
        # Cloud attempt of a job: when its instance was ready, when work began.
        self.ready = [NAN] * count
        self.work = [NAN] * count

        gpus = fleet.gpus
        self.gpus = gpus
        self.queue: list[list[tuple[int, float, int]]] = [[] for _ in gpus]
        # Seconds of work queued on each GPU, by job priority (the queue's order).
        self.queued_s: list[Counter[int]] = [Counter() for _ in gpus]
        self.running = [-1] * len(gpus)
        self.busy_until = [0.0] * len(gpus)
        self.wake_at: list[float | None] = [None] * len(gpus)
        # The GPU records the engine last saw, with their backlogs.
        self.gpu_views = [replace(gpu, backlog_s=0.0) for gpu in gpus]
        self.gpu_tuple = tuple(self.gpu_views)

        offers = market.book.offers
        self.offers = offers
        self.capacity = market.capacity
        policy = fleet.policy
        # Bytes per second from the control plane to an instance of each offer.
        self.upload_rate = [min(policy.upload_mbps, o.bandwidth_mbps) * 1e6 / 8 for o in offers]
        self.interrupt_rate = [
            (o.interruption_per_hour if o.interruption_per_hour is not None
             else policy.spot_interruption_per_hour) / 3600 for o in offers]
        self.live = [0] * len(offers)
        self.waiting: list[list[tuple[int, float, int, bool]]] = [[] for _ in offers]
        self.idle: dict[tuple[int, bool], list[int]] = {}
        self.inst_offer: list[int] = []
        self.inst_spot: list[bool] = []
        self.inst_launch: list[float] = []
        self.inst_price: list[float] = []
        self.inst_interrupt: list[float] = []
        self.inst_gen: list[int] = []
        self.inst_idle_since: list[float] = []
        self.alive: set[int] = set()

        self.track_month = policy.monthly_budget is not None
        self.month_closed: Counter[tuple[int, int]] = Counter()
        self.cost: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.placed_local = self.placed_cloud = self.refused = 0
        self.interruptions = 0
        self.rework_s = 0.0
        self.idle_gpu_s = 0.0

    # ------------------------------------------------------------ the loop

    def run(self) -> Outcome:
        jobs = self.jobs
        events = self.events
        pop = heapq.heappop
        handlers = (self._done_local, self._done_cloud, self._interrupt, self._idle_end,
                    self._wake)
        total = len(jobs)
        index = 0
        next_arrival = jobs[0].arrival_s if total else INF
        while index < total or events:
            if events and events[0][0] <= next_arrival:
                when, kind, first, second = pop(events)
                self.now_s = when
                handlers[kind](when, first, second)
            else:
                self.now_s = next_arrival
                self._arrive(index, jobs[index], next_arrival)
                index += 1
                next_arrival = jobs[index].arrival_s if index < total else INF
        return self._outcome()

    def _push(self, when: float, kind: int, first: int, second: int) -> None:
        heapq.heappush(self.events, (when, kind, first, second))

    def _arrive(self, job: int, trace_job: TraceJob, now: float) -> None:
        placement = self.placer.place(trace_job, self)
        if placement is None:
            self.refused += 1
            self._count(rules.refusal_violations(trace_job.spec, self.gpus))
            return
        runtime = placement.runtime_s * trace_job.runtime_factor
        self.runtime[job] = runtime
        spec = trace_job.spec
        if placement.gpu >= 0:
            gpu = placement.gpu
            self.placed_local += 1
            self._count(rules.local_violations(spec, self.gpus[gpu]))
            heapq.heappush(self.queue[gpu], (-spec.priority, now, job))
            self.queued_s[gpu][spec.priority] += runtime
            if self.running[gpu] < 0:
                self._try_start(gpu, now)
        else:
            self.placed_cloud += 1
            self._count(rules.cloud_violations(spec, self.offers[placement.offer]))
            self._request(job, placement.offer, placement.spot, now)

    def _count(self, broken: tuple[rules.Rule, ...]) -> None:
        for rule in broken:
            self.violations[rule.value] += 1

    # ------------------------------------------------------------ local GPUs

    def _try_start(self, gpu: int, now: float) -> None:
        queue = self.queue[gpu]
        if self.running[gpu] >= 0 or not queue:
            return
        schedule = self.gpus[gpu].schedule
        if not schedule.always:
            wait = schedule.wait_s(datetime.fromtimestamp(now, self.zone))
            if wait > _OPEN_EPSILON_S:
                if math.isfinite(wait) and self.wake_at[gpu] != now + wait:
                    self.wake_at[gpu] = now + wait
                    self._push(now + wait, _WAKE, gpu, 0)
                return
        _, _, job = heapq.heappop(queue)
        runtime = self.runtime[job]
        self.queued_s[gpu][self.jobs[job].spec.priority] -= runtime
        self.running[gpu] = job
        self.start[job] = now
        self.busy_until[gpu] = now + runtime
        self._push(now + runtime, _DONE_LOCAL, gpu, job)

    def _done_local(self, now: float, gpu: int, job: int) -> None:
        self.finish[job] = now
        self.running[gpu] = -1
        self.cost[LOCAL] += self.gpus[gpu].cost_per_hour * self.runtime[job] / 3600
        self._try_start(gpu, now)

    def _wake(self, now: float, gpu: int, _unused: int) -> None:
        self.wake_at[gpu] = None
        self._try_start(gpu, now)

    def backlog_s(self, gpu: int, priority: int | None = None) -> float:
        """Seconds of work still running on a local GPU and queued for it; given
        a job's priority, only the queued work it cannot overtake."""
        running = self.busy_until[gpu] - self.now_s if self.running[gpu] >= 0 else 0.0
        queued = sum(s for p, s in self.queued_s[gpu].items() if priority is None or p >= priority)
        return max(running, 0.0) + max(queued, 0.0)

    def fleet_state(self, priority: int | None = None) -> FleetState:
        now = self.now_s
        views = self.gpu_views
        changed = False
        for gpu, view in enumerate(views):
            backlog = self.backlog_s(gpu, priority)
            # Most GPUs are idle at most arrivals: their record is reused as is.
            if view.backlog_s != backlog:
                views[gpu] = replace(view, backlog_s=backlog)
                changed = True
        if changed:
            self.gpu_tuple = tuple(views)
        return FleetState(gpus=self.gpu_tuple, now=datetime.fromtimestamp(now, self.zone),
                          month_spend=self._month_spend(now) if self.track_month else 0.0,
                          knowledge=self.knowledge)

    # ------------------------------------------------------------ cloud

    def _request(self, job: int, offer: int, spot: bool, now: float) -> None:
        pool = self.idle.get((offer, spot))
        if pool:
            instance = pool.pop()
            self._leave_idle(instance, now)
            self._assign(instance, job, now, 0.0)
            return
        limit = self.capacity[offer]
        if limit is None or self.live[offer] < limit:
            self._assign(self._launch(offer, spot, now), job, now, self.offers[offer].boot_s)
            return
        other = self.idle.get((offer, not spot))
        if other:
            # An idle instance of the other purchase option holds the slot: trade it in.
            instance = other.pop()
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
        self.inst_launch.append(now)
        self.inst_price.append(terms.spot_price_per_hour if spot else terms.price_per_hour)
        # Memoryless: one draw at launch is the instance's whole interruption process.
        self.inst_interrupt.append(now + self.rng.expovariate(rate) if spot and rate > 0
                                   else INF)
        self.inst_gen.append(0)
        self.inst_idle_since.append(NAN)
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
            self._push(lost_at, _INTERRUPT, instance, job)
        else:
            self._push(end, _DONE_CLOUD, instance, job)

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
        self.inst_idle_since[instance] = now
        self.inst_gen[instance] += 1
        self.idle.setdefault((offer, spot), []).append(instance)
        until = min(now + self.grace, self.inst_interrupt[instance])
        self._push(until, _IDLE_END, instance, self.inst_gen[instance])

    def _idle_end(self, now: float, instance: int, generation: int) -> None:
        if generation != self.inst_gen[instance] or math.isnan(self.inst_idle_since[instance]):
            return  # reused since this expiry was set
        offer = self.inst_offer[instance]
        self.idle[(offer, self.inst_spot[instance])].remove(instance)
        self._leave_idle(instance, now)
        if self.inst_interrupt[instance] <= now:
            self.interruptions += 1
        self._terminate(instance, now)
        self._serve_waiting(offer, now)

    def _leave_idle(self, instance: int, now: float) -> None:
        gpus = self.offers[self.inst_offer[instance]].gpu_count
        self.idle_gpu_s += (now - self.inst_idle_since[instance]) * gpus
        self.inst_idle_since[instance] = NAN
        self.inst_gen[instance] += 1

    def _terminate(self, instance: int, now: float) -> None:
        offer = self.inst_offer[instance]
        launched = self.inst_launch[instance]
        price = self.inst_price[instance]
        self.cost[self.offers[offer].provider] += price * (now - launched) / 3600
        self.live[offer] -= 1
        self.alive.discard(instance)
        if self.track_month:
            for month, seconds in self._months(launched, now):
                self.month_closed[month] += price * seconds / 3600

    def _serve_waiting(self, offer: int, now: float) -> None:
        waiting = self.waiting[offer]
        limit = self.capacity[offer]
        while waiting and (limit is None or self.live[offer] < limit):
            _, _, job, spot = heapq.heappop(waiting)
            self._request(job, offer, spot, now)

    # ------------------------------------------------------------ the budget

    def _month_spend(self, now: float) -> float:
        """Cloud spend of the current calendar month so far, running instances included."""
        month, month_start = self._month_of(now)
        spend = self.month_closed[month]
        for instance in self.alive:
            since = max(self.inst_launch[instance], month_start)
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

    # ------------------------------------------------------------ results

    def _outcome(self) -> Outcome:
        jobs = self.jobs
        waits = [self.start[i] - job.arrival_s for i, job in enumerate(jobs)
                 if not math.isnan(self.start[i])]
        finished = [t for t in self.finish if not math.isnan(t)]
        placed = self.placed_local + self.placed_cloud
        placer = self.placer
        return Outcome(
            name=placer.name, kind=placer.kind, label=placer.label, jobs=len(jobs),
            total_cost=sum(self.cost.values()),
            cost_by_provider=dict(sorted(self.cost.items())),
            placed_local=self.placed_local, placed_cloud=self.placed_cloud,
            refused=self.refused, violations=sum(self.violations.values()),
            violations_by_rule=dict(sorted(self.violations.items())),
            wait_p50_s=percentile(waits, 0.50), wait_p95_s=percentile(waits, 0.95),
            makespan_s=max(finished) - jobs[0].arrival_s if finished else 0.0,
            idle_gpu_s=self.idle_gpu_s, spot_interruptions=self.interruptions,
            rework_s=self.rework_s, cloud_instances=len(self.inst_offer),
            unfinished=placed - len(finished),
        )
