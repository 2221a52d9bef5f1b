"""Off-peak deferral as a placer: today's engine decides each job, and where
it sends a job to the cloud, the off-peak rule (kernel/offpeak.py) may defer
it to a local GPU's free window instead (a GPU free at night or at the
weekend, or once its queue drains) when that is cheaper and still finishes
before the job's deadline. Urgent and confidential jobs are never deferred.

A deferred job queues on its local GPU with the latest moment it may still
start in the cloud and keep its deadline; if later, higher-priority work has
kept it from starting by then, ``rescue`` places it in the cloud.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from aima_tasks.kernel.offpeak import (
    DeferralJob,
    DeferralPolicy,
    StartOption,
    decide_deferral,
    latest_start,
    local_start,
)
from aima_tasks.kernel.placement import Decision, RuntimeKnowledge, decide
from aima_tasks.kernel.simulation import rules
from aima_tasks.kernel.simulation.baselines import Estimates
from aima_tasks.kernel.simulation.inputs import Fleet, TraceJob
from aima_tasks.kernel.simulation.outcome import Kind
from aima_tasks.kernel.simulation.placers import EnginePlacer
from aima_tasks.kernel.simulation.placing import Placement, ReplayView


class DeferringPlacer:
    kind = Kind.STRATEGY

    def __init__(self, inner: EnginePlacer, fleet: Fleet, policy: DeferralPolicy,
                 knowledge: RuntimeKnowledge | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.label = f"{inner.label}; off-peak deferral"
        self.gpus = fleet.gpus
        self.zone = fleet.timezone
        self.policy = policy
        self.estimates = Estimates(knowledge or RuntimeKnowledge())
        # How often each verdict was given, and each cloud-bound job's record
        # (job id -> Deferral.to_dict()): what its decision record would say.
        self.verdicts: Counter[str] = Counter()
        self.records: dict[str, dict] = {}

    def place(self, job: TraceJob, view: ReplayView) -> Placement | None:
        fleet = view.fleet_state(job.spec.priority)
        decision = decide(job.spec, fleet, self.inner.book, self.inner.policy)
        placement = self.inner.placement(job, decision, fleet.knowledge)
        if placement is None or placement.gpu >= 0 or decision.choice is None:
            return placement
        return self._maybe_defer(job, view, decision, placement)

    def rescue(self, job: TraceJob, view: ReplayView) -> Placement | None:
        """Placed anew with no local GPU to wait for: the cloud's best offer now."""
        fleet = replace(view.fleet_state(job.spec.priority), gpus=())
        decision = decide(job.spec, fleet, self.inner.book, self.inner.policy)
        return self.inner.placement(job, decision, fleet.knowledge)

    def _maybe_defer(self, job: TraceJob, view: ReplayView, decision: Decision,
                     placement: Placement) -> Placement:
        choice = decision.choice
        assert choice is not None
        spec = job.spec
        now = datetime.fromtimestamp(view.now_s, self.zone)
        later: list[tuple[StartOption, int, float]] = []
        for index, gpu in enumerate(self.gpus):
            if not gpu.schedule.intervals or rules.local_violations(spec, gpu):
                continue
            runtime = self.estimates.on_gpu(job, gpu)
            option = local_start(gpu.schedule, view.backlog_s(index, deferred=True), now,
                                 runtime, gpu.cost_per_hour,
                                 f"local GPU #{gpu.gpu_id} ({gpu.model})")
            if option is not None:
                later.append((option, index, runtime))
        stated = (datetime.fromtimestamp(job.deadline_s, UTC) if job.deadline_s is not None
                  else None)
        facts = DeferralJob(spec.urgency, spec.confidentiality,
                            datetime.fromtimestamp(job.arrival_s, UTC), stated)
        deferral = decide_deferral(facts, now, StartOption(now, choice.cost, choice.runtime_s,
                                                           choice.label),
                                   [option for option, _, _ in later], self.policy)
        self.verdicts[deferral.code.value] += 1
        self.records[job.job_id] = deferral.to_dict()
        if not deferral.defer or deferral.deadline is None:
            return placement
        _, index, runtime = next(item for item in later
                                 if item[0].start == deferral.until
                                 and item[0].where == deferral.where)
        # Moved to the cloud when it has not started by the last local start
        # that keeps the deadline, or the last cloud start (boot, upload, run).
        rescue_at = min(latest_start(deferral.deadline, runtime, self.policy),
                        latest_start(deferral.deadline, choice.duration_s, self.policy))
        return Placement(runtime_s=runtime, gpu=index, latest_start_s=rescue_at.timestamp())
