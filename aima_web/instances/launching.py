"""Launching instances: claiming the requested ones whose launch is due, and
asking a provider for each, with its agent's enrolment and broker user; a
refused launch moves on to the next offer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from aima_tasks.kernel.instance_env import SELF_SHUTDOWN_AFTER_ENV
from aima_tasks.kernel.routing import Scope
from aima_web.audit import trail
from aima_web.fleet.services import create_enrollment_token, revoke_token
from aima_web.instances import broker_accounts
from aima_web.instances.broker_accounts import BrokerAccountError
from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.offers import next_offer, offer_for, offer_for_retry
from aima_web.instances.registry import (
    agent_image,
    instance_tags,
    providers,
    terminate_at_provider,
)
from aima_web.instances.states import ENDING, ERROR_CHARS, transition
from providers.base import AuthError, LaunchSpec, ProviderError

log = logging.getLogger(__name__)

# A launch message sent and not yet taken is not sent again for this long; a
# lost one (its control worker died before taking it) is sent again after it.
DISPATCH_LEASE_S = 60
# A failed launch is tried again after 2, 4, 8… seconds, at most this long.
RETRY_DELAY_CAP_S = 60.0
# A cloud enrollment token outlives the boot timeout by as much again: a slow boot that
# the tick has not yet given up on can still enrol.
ENROLLMENT_BOOTS = 2


class LaunchOutcome(StrEnum):
    """What one launch came to, for the launch task's log."""

    LAUNCHED = "launched"
    RETRY = "retry"      # back to requested, due again after a backoff
    FAILED = "failed"    # out of attempts or offers
    SKIPPED = "skipped"  # not requested any more, or ended while the provider was asked


def claim_due_launches(now: datetime | None = None) -> list[int]:
    """The requested instances whose launch is due, each claimed for one
    launch message: the caller sends them."""
    now = now or timezone.now()
    due = CloudInstance.objects.filter(Q(due_at__lte=now) | Q(due_at__isnull=True),
                                       state=InstanceState.REQUESTED)
    lease = now + timedelta(seconds=DISPATCH_LEASE_S)
    # One by one and conditionally: two ticks racing claim each instance once.
    return [instance_id for instance_id in due.values_list("pk", flat=True)
            if due.filter(pk=instance_id).update(due_at=lease)]


def launch(instance_id: int) -> LaunchOutcome:
    """Ask the provider for the instance; on a refusal, pick the next offer."""
    started = timezone.now()
    if not transition(instance_id, InstanceState.PROVISIONING,
                      due_at=started + timedelta(seconds=settings.AIMA_LAUNCH_TIMEOUT_S)):
        return LaunchOutcome.SKIPPED
    instance = CloudInstance.objects.get(pk=instance_id)
    try:
        provider = providers().get(instance.provider)
        offer = offer_for(instance)
        # Stored before the provider is asked: an agent that comes up after
        # its control worker died is still recognised as this instance's.
        secret = enrol(instance)
        launched = provider.launch(offer, launch_spec(instance, secret))
    except (ProviderError, LookupError, BrokerAccountError) as exc:
        return launch_failed(instance, exc)
    launched_fields = {"provider_instance_id": launched.instance_id, "launched_at": started,
                       "price_per_hour": launched.price_per_hour or instance.price_per_hour,
                       "attempts": instance.attempts + 1}
    if not transition(instance_id, InstanceState.BOOTING, **launched_fields):
        # Its agent registered before the provider answered (and the reconciler may
        # have recorded this very host meanwhile): it is running.
        if CloudInstance.objects.filter(
                Q(provider_instance_id="") | Q(provider_instance_id=launched.instance_id),
                pk=instance_id).exclude(state__in=ENDING).update(**launched_fields):
            return LaunchOutcome.LAUNCHED
        # Ended while the provider was asked: give it back at once (a refusal now is
        # the reconciler's to mend: the host carries this instance's tags).
        terminate_at_provider(instance.provider, launched.instance_id)
        return LaunchOutcome.SKIPPED
    trail.record(trail.SYSTEM, "instance.launched", f"instance:{instance_id}",
                 provider=instance.provider, provider_instance_id=launched.instance_id,
                 offer=offer.key, price_per_hour=launched.price_per_hour)
    return LaunchOutcome.LAUNCHED


def enrol(instance: CloudInstance) -> str:
    """Give the instance a token only its agent can enrol with, valid while it
    boots, in place of an earlier attempt's; return the token's secret."""
    lifetime = timedelta(seconds=settings.AIMA_BOOT_TIMEOUT_S * ENROLLMENT_BOOTS)
    token, secret = create_enrollment_token(
        f"{instance.name} ({instance.provider})", scope=Scope.CLOUD, max_uses=1,
        gpu_class=instance.gpu_class, expires_at=timezone.now() + lifetime)
    revoke_enrollment(instance)
    CloudInstance.objects.filter(pk=instance.pk).update(enrollment_token=token)
    instance.enrollment_token = token
    return secret


def revoke_enrollment(instance: CloudInstance) -> None:
    """The instance's token, and the credential of any agent that enrolled with
    it: a host that ended (or whose launch failed) can no longer register,
    heartbeat, take work or report."""
    if instance.enrollment_token_id:
        revoke_token(instance.enrollment_token_id, trail.SYSTEM)


def launch_spec(instance: CloudInstance, secret: str) -> LaunchSpec:
    env = {
        "AIMA_CONTROL_PLANE_URL": settings.AIMA_PUBLIC_URL,
        "AIMA_AGENT_TOKEN": secret,
        "AIMA_AGENT_NAME": instance.name,
        # How long it may go without reaching this control plane before it ends its
        # own instance (by the mechanism its provider names in AIMA_SHUTDOWN).
        SELF_SHUTDOWN_AFTER_ENV: str(settings.AIMA_SELF_SHUTDOWN_AFTER_S),
        # A broker user of its own, reading its class's cloud queue only.
        **broker_accounts.agent_env(instance.pk, instance.gpu_class),
    }
    tags = instance_tags(instance.pk)
    return LaunchSpec(name=instance.name, image=agent_image(instance.provider), env=env,
                      command=settings.AIMA_AGENT_COMMAND, tags=tags, spot=instance.spot,
                      bid_per_hour=instance.price_per_hour if instance.spot else None)


def launch_failed(instance: CloudInstance, exc: Exception) -> LaunchOutcome:
    """A transient error tries the same offer again; a refusal (capacity,
    quota, credentials) moves on to the next offer; both with backoff, up to
    ``AIMA_LAUNCH_ATTEMPTS``."""
    error = f"{type(exc).__name__}: {exc}"
    attempts = instance.attempts + 1
    # A host the failed call started anyway must not enrol: the reconciler ends it.
    revoke_enrollment(instance)
    broker_accounts.remove(instance.pk)
    log.warning("launching %s on %s failed: %s", instance.name, instance.offer_id, error)
    trail.record(trail.SYSTEM, "instance.launch_failed", f"instance:{instance.pk}",
                 offer=instance.offer_id, error=error[:500])
    if isinstance(exc, ProviderError | BrokerAccountError) and exc.retryable:
        tried, following = instance.tried_offers, offer_for_retry(instance)
    else:
        tried = [*instance.tried_offers, instance.offer_id]
        # Bad credentials will not get better by trying that provider again.
        skip = {instance.provider} if isinstance(exc, AuthError | LookupError) else set()
        following = next_offer(instance.gpu_class, tried, skip)
    # A missing broker setting fails every offer alike: fail at once, saying which.
    if attempts >= settings.AIMA_LAUNCH_ATTEMPTS or following is None or (
            isinstance(exc, BrokerAccountError) and not exc.retryable):
        transition(instance.pk, InstanceState.FAILED, [InstanceState.PROVISIONING],
                   error=error[:ERROR_CHARS], tried_offers=tried, attempts=attempts,
                   terminated_at=timezone.now())
        return LaunchOutcome.FAILED
    same = following.key == instance.offer_id
    transition(instance.pk, InstanceState.REQUESTED,
               error=error[:ERROR_CHARS], tried_offers=tried, attempts=attempts,
               due_at=timezone.now() + timedelta(seconds=retry_delay_s(attempts)),
               provider=following.provider, offer_id=following.key,
               instance_type=following.instance_type, gpu_model=following.gpu_model,
               region=following.region,
               # The same offer again keeps its terms (a spot bid stays a spot bid).
               price_per_hour=instance.price_per_hour if same else following.price_per_hour,
               spot=instance.spot and same)
    return LaunchOutcome.RETRY


def retry_delay_s(attempts: int) -> float:
    return min(2.0 ** attempts, RETRY_DELAY_CAP_S)
