"""Making the providers and the database agree: what a provider bills for
that the database does not know (or has ended) is terminated, and what the
database bills for that the provider no longer has is marked ended.

A paused instance is billable (at its storage price): its provider lists it
as stopped, which is no leak; a paused row its provider no longer lists has
vanished like any other."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Q
from django.utils import timezone

from aima_web.audit import trail
from aima_web.instances import broker_accounts
from aima_web.instances.ending import finish_termination, record_host
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.registry import deployment_tags, providers, terminate_at_provider
from aima_web.instances.states import BILLABLE, ENDED, transition
from providers.base import INSTANCE_TAG, ProviderError
from providers.base import Instance as ProviderInstance

log = logging.getLogger(__name__)

# A host launched this recently may not be listed by its provider yet.
SETTLE_S = 30


class Action(StrEnum):
    """What to do with a host a provider bills for."""

    KEEP = "keep"
    ADOPT = "adopt"  # learn its id: its agent enrolled before the launch was recorded
    TERMINATE = "terminate"


def reconcile(now: datetime | None = None) -> dict[str, list[str]]:
    """Make the providers and the database agree: terminate every tagged
    instance the database does not know, has ended or already has another
    instance for; learn the id of one whose launch was cut short; and mark
    instances the provider no longer has as terminated."""
    now = now or timezone.now()
    report: dict[str, list[str]] = {"terminated_unknown": [], "adopted": [],
                                    "marked_vanished": []}
    for name, provider in providers().providers.items():
        try:
            listed = provider.list_instances(deployment_tags())
        except ProviderError as exc:
            log.warning("reconciling %s: could not list instances: %s", name, exc)
            continue
        settle_listed(name, listed, report)
        report["marked_vanished"] += mark_vanished(
            name, {host.instance_id for host in listed}, now)
    # Users a failed deletion left behind (the management API was down).
    report["broker_users_removed"] = broker_accounts.sweep(lambda: set(
        CloudInstance.objects.exclude(state__in=ENDED).values_list("pk", flat=True)))
    return report


def settle_listed(name: str, listed: list[ProviderInstance],
                  report: dict[str, list[str]]) -> None:
    """Keep, adopt or terminate each host the provider lists as ours."""
    seen = {host.instance_id for host in listed}
    rows = CloudInstance.objects.filter(provider=name).filter(
        Q(provider_instance_id__in=seen) | Q(pk__in=[
            int(host.tags[INSTANCE_TAG]) for host in listed
            if host.tags.get(INSTANCE_TAG, "").isdigit()]))
    by_id = {row.provider_instance_id: row for row in rows if row.provider_instance_id}
    by_tag = {str(row.pk): row for row in rows}
    for host in listed:
        row = by_id.get(host.instance_id) or by_tag.get(host.tags.get(INSTANCE_TAG, ""))
        action = reconciled(row, host.instance_id)
        if action == Action.KEEP:
            continue
        subject = f"{name}:{host.instance_id}"
        if action == Action.ADOPT:
            if record_host(row, host):
                report["adopted"].append(subject)
            continue
        if not terminate_at_provider(name, host.instance_id):
            continue
        report["terminated_unknown"].append(subject)
        trail.record(trail.SYSTEM, "instance.reconciled", subject,
                     why="billed by the provider but unknown, ended or a duplicate here")


def mark_vanished(name: str, seen: set[str], now: datetime) -> list[str]:
    """End the rows launched a while ago and billable here that the provider
    no longer lists; return them as provider:id."""
    settled = now - timedelta(seconds=SETTLE_S)
    vanished = []
    for row in CloudInstance.objects.filter(provider=name, state__in=BILLABLE,
                                            launched_at__lt=settled).exclude(
            Q(provider_instance_id="") | Q(provider_instance_id__in=seen)):
        if transition(row.pk, InstanceState.TERMINATING, BILLABLE):
            finish_termination(row.pk, "vanished at the provider")
            vanished.append(f"{name}:{row.provider_instance_id}")
    return vanished


def reconciled(row: CloudInstance | None, instance_id: str) -> Action:
    """What to do with an instance a provider bills for."""
    if row is None or row.state in ENDED:
        return Action.TERMINATE
    if row.provider_instance_id == instance_id:
        return Action.KEEP
    if row.provider_instance_id:
        return Action.TERMINATE  # a second host for one row: a launch that was retried
    if row.state in (InstanceState.REQUESTED, InstanceState.PROVISIONING):
        return Action.KEEP  # its launch is under way; the tick recovers one that was lost
    return Action.ADOPT  # its agent enrolled before the launch was recorded
