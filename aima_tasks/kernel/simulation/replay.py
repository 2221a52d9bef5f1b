"""The discrete-event replay: jobs arrive in trace order, a placer decides
each one at its arrival time, and local GPUs and cloud instances play the
work out.

Local GPUs run one job at a time, highest priority first, then first come;
they start work only while their availability window is open (a running job
finishes). A cloud job needs an instance of its offer (instances.py: reuse,
launch, capacity, idle grace, pause, warm capacity, spot interruptions).
A job a placer deferred to a local GPU's free window carries the latest
moment it may still start elsewhere: if it has not started there by then,
the placer's ``rescue`` places it again (in the cloud), so that it keeps its
deadline.

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
from datetime import UTC, datetime

from aima_tasks.kernel.offpeak import DeferralJob, DeferralPolicy, deadline_of
from aima_tasks.kernel.placement import FleetState, RuntimeKnowledge
from aima_tasks.kernel.simulation import instances, rules
from aima_tasks.kernel.simulation.demand import Demand, gpu_class
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.instances import CloudPool
from aima_tasks.kernel.simulation.offers import Market
from aima_tasks.kernel.simulation.options import TODAY, ReplayOptions
from aima_tasks.kernel.simulation.outcome import Outcome, percentile
from aima_tasks.kernel.simulation.placing import Placement, Placer
from aima_tasks.kernel.simulation.utilisation import local_idle_s

__all__ = ["LOCAL", "replay"]

LOCAL = "local"
NAN = math.nan
INF = math.inf
# Below this a schedule's wait is float noise: the window is open.
_OPEN_EPSILON_S = 1e-3

# Event kinds after the cloud's (instances.py): local work done first of these.
_DONE_LOCAL, _WAKE, _RESCUE = range(instances.TICK + 1, instances.TICK + 4)


def replay(jobs: Sequence[TraceJob], fleet: Fleet, market: Market, placer: Placer,
           seed: int = 0, knowledge: RuntimeKnowledge | None = None,
           options: ReplayOptions = TODAY) -> Outcome:
    """Replay ``jobs`` (sorted by arrival) with ``placer`` deciding each one."""
    return _Replay(jobs, fleet, market, placer, seed, knowledge or RuntimeKnowledge(),
                   options).run()


def deadlines(jobs: Sequence[TraceJob], policy: DeferralPolicy | None = None) -> list[float]:
    """Each job's deadline (POSIX seconds, inf for none): its own, else the
    deferral policy's default for its urgency, the earlier."""
    policy = policy or DeferralPolicy()
    found = []
    for job in jobs:
        submitted = datetime.fromtimestamp(job.arrival_s, UTC)
        stated = (datetime.fromtimestamp(job.deadline_s, UTC)
                  if job.deadline_s is not None else None)
        deadline = deadline_of(DeferralJob(job.spec.urgency, job.spec.confidentiality,
                                           submitted, stated), policy)
        found.append(deadline.timestamp() if deadline else INF)
    return found


class _Replay(CloudPool):
    def __init__(self, jobs: Sequence[TraceJob], fleet: Fleet, market: Market, placer: Placer,
                 seed: int, knowledge: RuntimeKnowledge, options: ReplayOptions) -> None:
        self.jobs = jobs
        self.fleet = fleet
        self.placer = placer
        self.knowledge = knowledge
        self.options = options
        self.zone = fleet.timezone
        self.grace = fleet.idle_grace_s
        self.rng = random.Random(seed)
        self.now_s = jobs[0].arrival_s if jobs else 0.0
        self.last_arrival_s = jobs[-1].arrival_s if jobs else 0.0
        self.events: list[tuple[float, int, int, int]] = []
        count = len(jobs)
        self.start = [NAN] * count
        self.finish = [NAN] * count
        self.runtime = [0.0] * count
        self.deadline = deadlines(jobs, options.offpeak)
        # The local GPU a job is queued on (-1: none), and whether it was moved off.
        self.on_gpu = [-1] * count
        self.moved = [False] * count
        self.demand = (Demand(self.now_s, options.forecast_weeks) if options.forecasting
                       else None)

        gpus = fleet.gpus
        self.gpus = gpus
        # (deferred, -priority, arrival, job): deferred work last, then as today.
        self.queue: list[list[tuple[bool, int, float, int]]] = [[] for _ in gpus]
        # Seconds of work queued on each GPU, by job priority (the queue's order),
        # and of deferred work queued behind it.
        self.queued_s: list[Counter[int]] = [Counter() for _ in gpus]
        self.filler_s = [0.0] * len(gpus)
        self.running = [-1] * len(gpus)
        self.busy_until = [0.0] * len(gpus)
        self.wake_at: list[float | None] = [None] * len(gpus)
        # The GPU records the engine last saw, with their backlogs.
        self.gpu_views = [replace(gpu, backlog_s=0.0) for gpu in gpus]
        self.gpu_tuple = tuple(self.gpu_views)

        policy = fleet.policy
        self._init_cloud(market.book.offers, market.capacity, policy.upload_mbps,
                         policy.spot_interruption_per_hour, policy.monthly_budget is not None)
        self.violations: Counter[str] = Counter()
        self.placed_local = self.placed_cloud = self.refused = 0
        self.deferred = self.rescued = 0
        if options.warm is not None and jobs:
            self._push(self.now_s, instances.TICK, 0, 0)

    # ------------------------------------------------------------ the loop

    def run(self) -> Outcome:
        jobs = self.jobs
        events = self.events
        pop = heapq.heappop
        handlers = (self._done_cloud, self._interrupt, self._idle_end, self._pause_end,
                    self._tick, self._done_local, self._wake, self._rescue)
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

    def _arrive(self, job: int, trace_job: TraceJob, now: float) -> None:
        placement = self.placer.place(trace_job, self)
        if self.demand is not None:
            self.demand.arrival(now, gpu_class(trace_job.spec),
                                placement is not None and placement.gpu < 0)
        if placement is None:
            self.refused += 1
            self._count(rules.refusal_violations(trace_job.spec, self.gpus))
            return
        if placement.gpu >= 0:
            self.placed_local += 1
            self._queue_local(job, placement, now)
        else:
            self.placed_cloud += 1
            self._to_cloud(job, placement, now)

    def _to_cloud(self, job: int, placement: Placement, now: float) -> None:
        spec = self.jobs[job].spec
        self.runtime[job] = placement.runtime_s * self.jobs[job].runtime_factor
        self._count(rules.cloud_violations(spec, self.offers[placement.offer]))
        klass = gpu_class(spec)
        if klass is not None:
            self.class_offer[klass] = (placement.offer, placement.spot)
        self._request(job, placement.offer, placement.spot, now)

    def _count(self, broken: tuple[rules.Rule, ...]) -> None:
        for rule in broken:
            self.violations[rule.value] += 1

    # ------------------------------------------------------------ local GPUs

    def _queue_local(self, job: int, placement: Placement, now: float) -> None:
        gpu = placement.gpu
        spec = self.jobs[job].spec
        runtime = placement.runtime_s * self.jobs[job].runtime_factor
        self.runtime[job] = runtime
        self.on_gpu[job] = gpu
        self._count(rules.local_violations(spec, self.gpus[gpu]))
        deferred = math.isfinite(placement.latest_start_s)
        # Deferred work fills the GPU's free time: every other job overtakes it.
        heapq.heappush(self.queue[gpu], (deferred, -spec.priority, now, job))
        if deferred:
            self.deferred += 1
            self.filler_s[gpu] += runtime
            self._push(max(placement.latest_start_s, now), _RESCUE, job, 0)
        else:
            self.queued_s[gpu][spec.priority] += runtime
        if self.running[gpu] < 0:
            self._try_start(gpu, now)

    def _try_start(self, gpu: int, now: float) -> None:
        queue = self.queue[gpu]
        while queue and self.moved[queue[0][3]]:
            heapq.heappop(queue)  # rescued to the cloud since it was queued
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
        deferred, _, _, job = heapq.heappop(queue)
        runtime = self.runtime[job]
        if deferred:
            self.filler_s[gpu] -= runtime
        else:
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

    def _rescue(self, now: float, job: int, _unused: int) -> None:
        """A deferred job still queued at its latest start: placed anew, in the cloud."""
        if not math.isnan(self.start[job]) or self.moved[job]:
            return
        rescue = getattr(self.placer, "rescue", None)
        placement = rescue(self.jobs[job], self) if rescue is not None else None
        if placement is None or placement.gpu >= 0:
            return  # nowhere else to go: it keeps its place in the queue
        gpu = self.on_gpu[job]
        self.moved[job] = True
        self.filler_s[gpu] -= self.runtime[job]
        self.placed_local -= 1
        self.placed_cloud += 1
        self.rescued += 1
        self._to_cloud(job, placement, now)

    def backlog_s(self, gpu: int, priority: int | None = None, deferred: bool = False) -> float:
        """Seconds of work still running on a local GPU and queued for it; given
        a job's priority, only the queued work it cannot overtake; for a job to
        be deferred (``deferred``), the deferred work queued before it too."""
        running = self.busy_until[gpu] - self.now_s if self.running[gpu] >= 0 else 0.0
        if deferred:
            return max(running, 0.0) + max(sum(self.queued_s[gpu].values())
                                           + self.filler_s[gpu], 0.0)
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

    # ------------------------------------------------------------ results

    def _outcome(self) -> Outcome:
        jobs = self.jobs
        now = self.now_s
        for instance in sorted(self.alive):
            self._bill(instance, now)  # instances still paused when the trace ends
        waits = [self.start[i] - job.arrival_s for i, job in enumerate(jobs)
                 if not math.isnan(self.start[i])]
        cloud_waits = [self.start[i] - job.arrival_s for i, job in enumerate(jobs)
                       if not math.isnan(self.ready[i]) and not math.isnan(self.start[i])]
        finished = [t for t in self.finish if not math.isnan(t)]
        late = sum(1 for t, d in zip(self.finish, self.deadline, strict=True) if t > d)
        runs: list[list[tuple[float, float]]] = [[] for _ in self.gpus]
        for i, gpu in enumerate(self.on_gpu):
            if gpu >= 0 and not self.moved[i] and not math.isnan(self.finish[i]):
                runs[gpu].append((self.start[i], self.finish[i]))
        first = jobs[0].arrival_s if jobs else 0.0
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
            unfinished=placed - len(finished), past_deadline=late,
            cloud_wait_p95_s=percentile(cloud_waits, 0.95),
            local_idle_gpu_s=local_idle_s(self.gpus, runs, first, self.last_arrival_s,
                                          self.zone), deferred=self.deferred,
            rescued=self.rescued, pauses=self.pauses, resumes=self.resumes,
            warm_launches=self.warm_launches,
        )
