"""Finding providers: the ``aima.providers`` entry-point group, configured by
the environment.

An installed package adds a provider by declaring, in its packaging::

    [project.entry-points."aima.providers"]
    mycloud = "mycloud_aima:MyCloudProvider"

The object named is called with the provider's settings (a dict of strings)
and returns a ``Provider``. ``AIMA_PROVIDERS`` lists the enabled providers in
order of preference (default: ``subprocess``); each one's settings are the
environment variables ``AIMA_<NAME>_<KEY>``, passed as ``{"key": value}``.
A plugin that fails to import or to start is reported by name and leaves the
others working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint

from aima_tasks.kernel import plugins
from providers.base import Provider

GROUP = "aima.providers"
DEFAULT_ENABLED = ("subprocess",)
# Setting names that hold secrets: never logged, never shown back.
SECRET_WORDS = ("key", "secret", "token", "password")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registry:
    # Working providers, in the configured order of preference.
    providers: dict[str, Provider] = field(default_factory=dict)
    # Enabled providers that could not be loaded: name -> what went wrong.
    broken: dict[str, str] = field(default_factory=dict)
    # Settings per provider with secrets masked: for the API and logs.
    settings: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> Provider:
        if name not in self.providers:
            problem = self.broken.get(name, "not enabled (see AIMA_PROVIDERS)")
            raise LookupError(f"provider {name!r}: {problem}")
        return self.providers[name]


def enabled_names(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if environ is None else environ
    raw = env.get("AIMA_PROVIDERS")
    if raw is None:
        return DEFAULT_ENABLED
    return tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))


def settings_for(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    prefix = f"AIMA_{name.upper().replace('-', '_')}_"
    return {key[len(prefix):].lower(): value for key, value in env.items()
            if key.startswith(prefix)}


def masked(settings: Mapping[str, str]) -> dict[str, str]:
    return {key: ("••••" if any(word in key for word in SECRET_WORDS) else value)
            for key, value in settings.items()}


def discover() -> dict[str, EntryPoint]:
    return plugins.claimed(GROUP)


def load(names: tuple[str, ...] | None = None,
         environ: Mapping[str, str] | None = None) -> Registry:
    wanted = enabled_names(environ) if names is None else names
    available = discover()
    registry = Registry()
    for name in wanted:
        settings = settings_for(name, environ)
        registry.settings[name] = masked(settings)
        point = available.get(name)
        if point is None:
            registry.broken[name] = (f"no installed plugin provides it (entry-point group "
                                     f"{GROUP!r} has: {', '.join(sorted(available)) or 'none'})")
            continue
        try:
            factory = point.load()
            provider = factory(settings)
        except Exception as exc:  # a plugin's failure must not take the others down
            registry.broken[name] = f"{type(exc).__name__}: {exc}"
            log.error("provider %s could not be loaded: %s: %s", name, type(exc).__name__, exc)
            continue
        if not isinstance(provider, Provider):
            registry.broken[name] = f"{point.value} did not return a Provider"
            continue
        registry.providers[name] = provider
    return registry
