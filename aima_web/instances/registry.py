"""The enabled cloud providers, loaded once per process, and the tags that
mark a provider's hosts as this deployment's (and as which instance)."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core import checks

from providers import registry as provider_registry
from providers.base import DEPLOYMENT_TAG, INSTANCE_TAG, ProviderError

log = logging.getLogger(__name__)

_registry: provider_registry.Registry | None = None
_registry_lock = threading.Lock()


def providers() -> provider_registry.Registry:
    """The enabled providers, loaded once per process (launch threads share them)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = provider_registry.load()
            for name, problem in _registry.broken.items():
                log.error("provider %s is enabled but broken: %s", name, problem)
        return _registry


def agent_image(provider: str) -> str:
    """The agent image an instance at ``provider`` runs: the provider's own
    (``AIMA_<PROVIDER>_IMAGE``), else the deployment's (``AIMA_AGENT_IMAGE``)."""
    return providers().agent_image(provider) or settings.AIMA_AGENT_IMAGE


@checks.register("aima")
def provider_settings(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every command that runs the checks): each enabled
    provider that would load broken, found without starting any vendor's SDK.
    A warning, not an error: the other providers work, and migrations must run.
    Registered on import, which the admin's autodiscovery does at start."""
    return [checks.Warning(f"provider {name} is enabled but broken: {problem}",
                           hint="see deploy/providers/ for its settings", id="aima.W001")
            for name, problem in provider_registry.check().items()]


def reload_providers() -> provider_registry.Registry:
    global _registry
    _registry = None
    return providers()


def deployment_tags() -> dict[str, str]:
    return {DEPLOYMENT_TAG: settings.AIMA_DEPLOYMENT_ID}


def instance_tags(instance_id: int) -> dict[str, str]:
    return {**deployment_tags(), INSTANCE_TAG: str(instance_id)}


def terminate_at_provider(provider: str, instance_id: str) -> bool:
    """Ask the provider to end one of its hosts; return whether it took the request."""
    try:
        providers().get(provider).terminate(instance_id)
    except (ProviderError, LookupError) as exc:
        log.warning("terminating %s:%s failed: %s", provider, instance_id, exc)
        return False
    return True
