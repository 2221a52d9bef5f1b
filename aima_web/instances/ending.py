"""Ending instances: at the provider first, then in the database with their
cost, their broker user and their agent's credentials gone."""

from __future__ import annotations

import logging

from django.utils import timezone

from aima_web.audit import trail
from aima_web.instances import billing, broker_accounts
from aima_web.instances.launching import revoke_enrollment
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.registry import instance_tags, providers
from aima_web.instances.states import BILLABLE, ERROR_CHARS, transition
from providers.base import Instance as ProviderInstance
from providers.base import ProviderError

log = logging.getLogger(__name__)


def terminate(instance: CloudInstance, why: str, failed: bool = False) -> bool:
    """End an instance at its provider and account its cost. Only a failed
    one may end before its launch began."""
    if not transition(instance.pk, InstanceState.TERMINATING,
                      None if failed else BILLABLE):
        return False
    try:
        provider = providers().get(instance.provider)
        if instance.provider_instance_id:
            provider.terminate(instance.provider_instance_id)
        elif instance.state != InstanceState.REQUESTED:
            # Its launch was cut short: the provider knows its host by the tag.
            hosts = provider.list_instances(instance_tags(instance.pk))
            if hosts:
                record_host(instance, hosts[0])
            for host in hosts:
                provider.terminate(host.instance_id)
    except (ProviderError, LookupError) as exc:
        # Stays "terminating": the next tick tries again, the reconciler too.
        log.warning("terminating %s failed: %s", instance.name, exc)
        CloudInstance.objects.filter(pk=instance.pk).update(error=str(exc)[:ERROR_CHARS])
        return False
    finish_termination(instance.pk, why, failed)
    return True


def terminate_again(instance: CloudInstance) -> None:
    """Ask the provider once more to end an instance stuck terminating."""
    try:
        providers().get(instance.provider).terminate(instance.provider_instance_id)
    except (ProviderError, LookupError) as exc:
        log.warning("terminating %s failed again: %s", instance.name, exc)
        return
    finish_termination(instance.pk, instance.error or "terminated on retry")


def record_host(instance: CloudInstance, host: ProviderInstance) -> bool:
    """Learn the provider's id of an instance whose launch was not recorded,
    and bill it from when the provider started it (as far as it says)."""
    return CloudInstance.objects.filter(pk=instance.pk, provider_instance_id="").update(
        provider_instance_id=host.instance_id,
        launched_at=instance.launched_at or host.launched_at or instance.requested_at) == 1


def finish_termination(instance_id: int, why: str, failed: bool = False) -> None:
    """A terminating instance is ended: its cost, its credentials, the trail."""
    now = timezone.now()
    instance = CloudInstance.objects.get(pk=instance_id)
    billed_s = instance.billed_seconds(until=now)
    # Its time paused is billed at the paused price, the rest at its price.
    paused_s = instance.paused_seconds(until=now)
    cost = billing.instance_cost(instance, until=now)
    # Its broker user goes first: an instance shown as ended holds no credential.
    broker_accounts.remove(instance_id)
    if not transition(instance_id, InstanceState.FAILED if failed else InstanceState.TERMINATED,
                      [InstanceState.TERMINATING], terminated_at=now, cost=cost,
                      **({"error": why} if failed else {})):
        return  # another path ended it first, and recorded it
    revoke_enrollment(instance)
    trail.record(trail.SYSTEM, "instance.failed" if failed else "instance.terminated",
                 f"instance:{instance_id}", why=why, cost=round(cost, 6),
                 billed_s=round(billed_s, 1), paused_s=round(paused_s, 1))
