"""Off-peak deferral in the control plane (seed 003 §6.2, 004 §8.2): a job of low
or normal urgency whose run is cheaper at a later hour (a local GPU free at
night, a fleet less busy) is held in ``deferred`` until then, and placed again
when its hour comes; never past its deadline, never an urgent or a confidential
job (kernel/offpeak.py has the rule; this module prices the later starts and
applies the answer).

Later starts are priced by the placement engine itself, asked as if it were
that hour: the same eligibility rules (VRAM, CUDA, access, schedules, caps)
decide then as now, so a deferral cannot count on a GPU the job may not use.
Spot prices that fall at night come from the price history: the cloud offers
the decision weighed are priced at each coming hour by their mean spot price in
that hour of the week.
A job is deferred once at most: released, it is placed for good, whatever the
fleet looks like then, so its deadline holds.

Settings: ``AIMA_DEADLINE_LOW_S`` and ``AIMA_DEADLINE_NORMAL_S``, the deadline of a
job that states none, counted from its submission (0: that urgency is never
deferred); ``AIMA_DEFER_MIN_SAVING``, the least saving, in the policy's currency,
worth a later result.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aima_tasks.kernel.analyses import Needs
from aima_tasks.kernel.classification import Confidentiality, Urgency
from aima_tasks.kernel.offpeak import (
    Deferral,
    DeferralJob,
    DeferralPolicy,
    StartOption,
    Verdict,
    decide_deferral,
    spot_price_by_hour,
    spot_starts,
)
from aima_tasks.kernel.placement import (
    Alternative,
    Code,
    Decision,
    FleetState,
    JobSpec,
    decide,
    decide_partial,
)
from aima_tasks.kernel.routing import Scope, message_priority
from aima_web.audit import trail
from aima_web.jobs import pipeline
from aima_web.jobs.models import Job
from aima_web.jobs.states import JobState
from aima_web.placement import services as placement
from aima_web.placement.models import OfferPrice, PlacementPolicy

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# Later starts priced at most this far ahead, an hour apart: a week covers every
# night and weekend the default deadlines reach.
MAX_HOURS = 7 * 24
# How far back spot prices are averaged by hour of the week.
SPOT_HISTORY = timedelta(weeks=4)
# Verdicts that no later start could change.
SETTLED = frozenset({Verdict.URGENT, Verdict.CONFIDENTIAL, Verdict.NO_DEADLINE})


def deferral_policy() -> DeferralPolicy:
    """The rule's policy from the settings: default deadlines per urgency (0: none,
    so never deferred) and the least saving; the rule's margin before a deadline,
    plus one sweeper round, by which a release may come late."""
    def seconds(value: int) -> float | None:
        return float(value) if value > 0 else None

    return DeferralPolicy(
        deadlines_s={Urgency.LOW: seconds(settings.AIMA_DEADLINE_LOW_S),
                     Urgency.NORMAL: seconds(settings.AIMA_DEADLINE_NORMAL_S),
                     Urgency.HIGH: None},
        margin_s=DeferralPolicy.margin_s + settings.AIMA_SWEEP_S,
        min_saving=settings.AIMA_DEFER_MIN_SAVING)


def deferral_job(job: Job) -> DeferralJob:
    return DeferralJob(urgency=Urgency(job.urgency),
                       confidentiality=Confidentiality(job.confidentiality),
                       submitted=job.created_at, deadline=job.deadline)


def consider(job: Job, spec: JobSpec, needs: Mapping[str, Needs] | None, now_decision: Decision,
             now: datetime | None = None) -> tuple[Deferral | None, Decision | None]:
    """The rule's verdict on holding the job for a cheaper later start (None: not
    asked, for a job held before or one nothing can place now), and the record to
    keep when it is held."""
    now = now or timezone.localtime()
    chosen = now_decision.choice
    if job.deferred_at is not None or not now_decision.placed or chosen is None:
        return None, None
    rule = deferral_policy()
    now_option = StartOption(start=now, cost=chosen.cost, runtime_s=chosen.duration_s,
                             where=chosen.label)
    about = deferral_job(job)
    # Asked with no later starts, the rule refuses urgent, confidential and
    # deadline-less jobs without the engine pricing a week of hours first.
    early = decide_deferral(about, now, now_option, (), rule)
    if early.code in SETTLED or early.deadline is None:
        return early, None
    if chosen.cost < rule.min_saving:
        # No later start can save more than the whole of it.
        return Deferral(False, Verdict.NOT_CHEAPER, f"it costs {chosen.cost:.2f} now, under "
                        f"the least saving worth a deferral ({rule.min_saving:.2f})",
                        deadline=early.deadline), None
    later = later_decisions(spec, needs, now, early.deadline)
    for at, on_spot in spot_later(now_decision, job.urgency, now, early.deadline).items():
        if at not in later or on_spot.choice.cost < later[at].choice.cost:
            later[at] = on_spot
    starts = [StartOption(start=at, cost=d.choice.cost, runtime_s=d.choice.duration_s,
                          where=d.choice.label) for at, d in later.items() if d.choice]
    verdict = decide_deferral(about, now, now_option, starts, rule)
    if not verdict.defer or verdict.until is None:
        return verdict, None
    return verdict, held_record(now_decision, later[verdict.until], verdict)


def later_decisions(spec: JobSpec, needs: Mapping[str, Needs] | None, now: datetime,
                    deadline: datetime) -> dict[datetime, Decision]:
    """The engine's placed decisions at each coming full hour before ``deadline``,
    by start."""
    policy_row = PlacementPolicy.current()
    base = placement.fleet_state(now, policy_row,
                                 level=message_priority(spec.priority, spec.urgency))
    book, policy = placement.offer_book(), policy_row.to_policy()
    found: dict[datetime, Decision] = {}
    start = now.replace(minute=0, second=0, microsecond=0) + HOUR
    for step in range(MAX_HOURS):
        at = start + step * HOUR
        if at >= deadline:
            break
        ahead = (at - now).total_seconds()
        # Prices as fresh then as they are now: no later price is known, and a
        # cloud option must not vanish from the comparison for age alone.
        later_policy = replace(policy, max_price_age_s=policy.max_price_age_s + ahead)
        fleet = fleet_at(base, at)
        decision = (decide_partial(spec, needs, fleet, book, later_policy) if needs is not None
                    else decide(spec, fleet, book, later_policy))
        if decision.placed and decision.choice is not None:
            found[at] = decision
    return found


def spot_later(now_decision: Decision, urgency: str, now: datetime,
               deadline: datetime) -> dict[datetime, Decision]:
    """Later starts on spot at the hours the price history says are cheaper, for
    each cloud offer the decision weighed (its choice and alternatives): the mean
    spot price of each hour of the week over the last weeks (kernel/offpeak).
    Only where the policy lets the job's urgency run on spot; placed again when
    released, the job is priced at the spot price of that hour, not the mean."""
    if urgency not in PlacementPolicy.current().spot_urgencies:
        return {}
    weighed = [now_decision.choice, *(alt.option for alt in now_decision.alternatives)]
    cloud = {o.offer_id: o for o in weighed if o is not None and o.scope == Scope.CLOUD}
    history: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for key, at, price in OfferPrice.objects.filter(
            key__in=list(cloud), spot_price_per_hour__isnull=False,
            priced_at__gte=now - SPOT_HISTORY).values_list("key", "priced_at",
                                                           "spot_price_per_hour"):
        history[key].append((at, price))
    found: dict[datetime, Decision] = {}
    for key, option in cloud.items():
        prices = spot_price_by_hour(history.get(key, ()))
        for start in spot_starts(prices, now, (deadline - now).total_seconds(),
                                 option.runtime_s, option.label, overhead_s=option.wait_s):
            known = found.get(start.start)
            if known is None or (known.choice is not None and start.cost < known.choice.cost):
                spot = replace(option, spot=True, cost=start.cost,
                               price_per_hour=start.cost * 3600 / max(start.runtime_s, 1.0))
                found[start.start] = replace(now_decision, choice=spot)
    return found


def fleet_at(fleet: FleetState, at: datetime) -> FleetState:
    """The fleet as it will likely be at ``at``: an always-open GPU has worked off
    that much of its backlog; a scheduled one keeps it (its open hours are what
    burns it, and keeping it only makes a later start look dearer, never later
    than it will be)."""
    passed = (at - fleet.now).total_seconds()
    gpus = tuple(replace(gpu, backlog_s=max(gpu.backlog_s - passed, 0.0))
                 if gpu.schedule.always else gpu for gpu in fleet.gpus)
    return replace(fleet, now=at, gpus=gpus)


def held_record(now_decision: Decision, later: Decision, verdict: Deferral) -> Decision:
    """The record of a held job: the option it is held for as its choice, the one
    it would have had now as the alternative that lost on cost."""
    assert verdict.until is not None and now_decision.choice is not None
    saving = f"{verdict.saving:.2f}"
    deadline = verdict.deadline.isoformat(timespec="minutes") if verdict.deadline else "-"
    reason = (f"Deferred to off-peak hours until {verdict.until.isoformat(timespec='minutes')}: "
              f"{verdict.where} then, saving {saving} on running now; deadline {deadline}.")
    lost = Alternative(now_decision.choice, Code.MORE_EXPENSIVE,
                       f"now: {verdict.saving:.2f} dearer than at "
                       f"{verdict.until.isoformat(timespec='minutes')}")
    return replace(later, placed=False, code=Code.DEFERRED_OFF_PEAK, reason=reason,
                   scope=None, queue=None, reasons=(Code.DEFERRED_OFF_PEAK,),
                   alternatives=(lost, *later.alternatives), suggestions=())


def record_of(decision: Decision, verdict: Deferral | None) -> dict:
    """The stored decision record, with the deferral rule's verdict and numbers
    (until, saving, deadline) beside the engine's, when it was asked."""
    record = decision.to_dict()
    if verdict is not None:
        record["deferral"] = verdict.to_dict()
    return record


def hold(job: Job, decision: Decision, verdict: Deferral) -> bool:
    """Store the held record and move the job from placing to deferred; True too
    when a redelivered place held it meanwhile (its record stands)."""
    record = record_of(decision, verdict)
    with transaction.atomic():
        moved = Job.objects.transition(job.pk, JobState.DEFERRED, placement=record,
                                       deferred_until=verdict.until)
        if moved:
            trail.record(trail.SYSTEM, "job.deferred", job.subject, **verdict.to_dict())
    if moved:
        job.placement, job.deferred_until = record, verdict.until
        return True
    return Job.objects.filter(pk=job.pk, state=JobState.DEFERRED).exists()


def placed_after_hold(job: Job, decision: Decision) -> Decision:
    """A job placed once its hold is over keeps the deferral among its reasons."""
    if job.deferred_at is None or Code.DEFERRED_OFF_PEAK in decision.reasons:
        return decision
    return replace(decision, reasons=(*decision.reasons, Code.DEFERRED_OFF_PEAK))


def release_due(now: datetime | None = None) -> int:
    """Send place again for every held job whose hour has come; return how many.
    The move back to placing is a conditional UPDATE, so two passes never both
    send one; a send lost to a broker fault leaves it placing, for the sweeper."""
    now = now or timezone.now()
    released = 0
    due = Job.objects.filter(state=JobState.DEFERRED, deferred_until__lte=now)
    for job_id in due.values_list("pk", flat=True):
        if not Job.objects.transition(job_id, JobState.PLACING):
            continue
        trail.record(trail.SYSTEM, "job.released", f"job:{job_id}")
        pipeline.place(str(job_id))
        released += 1
    if released:
        log.info("%d deferred job(s) released for placement", released)
    return released
