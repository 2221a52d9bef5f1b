"""Finding providers: the ``aima.providers`` entry-point group, configured by
the environment.

An installed package adds a provider by declaring, in its packaging::

    [project.entry-points."aima.providers"]
    mycloud = "mycloud_aima:MyCloudProvider"

The object named is called with the provider's settings (a dict of strings)
and returns a ``Provider``. ``AIMA_PROVIDERS`` lists the enabled providers in
order of preference (default: ``subprocess``); each one's settings are the
environment variables ``AIMA_<NAME>_<KEY>``, passed as ``{"key": value}``.

A provider declares its settings as ``SETTINGS`` (a tuple of
``providers.settings_schema.Setting``, on the class or in its module): they
are checked here before the provider is made, so that a typo'd number, a
missing key or an unknown variable leaves it broken with one line naming the
variable, and they are shown back with every ``secret`` one masked. A plugin
that declares no schema is made as it is, and none of its values is shown.
A plugin that fails to import or to start is reported by name and leaves the
others working.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from typing import Any

from aima_tasks.kernel import plugins
from providers.base import Provider
from providers.settings_schema import MASK, Setting, SettingsError, masked, parse

GROUP = "aima.providers"
DEFAULT_ENABLED = ("subprocess",)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registry:
    # Working providers, in the configured order of preference.
    providers: dict[str, Provider] = field(default_factory=dict)
    # Enabled providers that could not be loaded: name -> what went wrong.
    broken: dict[str, str] = field(default_factory=dict)
    # Settings per provider with secrets masked: for the API, the admin and logs.
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    # Each provider's declared schema, and each working one's typed values
    # (secrets included: never shown).
    schemas: dict[str, tuple[Setting, ...]] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> Provider:
        if name not in self.providers:
            problem = self.broken.get(name, "not enabled (see AIMA_PROVIDERS)")
            raise LookupError(f"provider {name!r}: {problem}")
        return self.providers[name]

    def agent_image(self, name: str) -> str:
        """The agent image the provider's instances run (its ``image`` setting);
        empty where it sets none, and the deployment's own image applies."""
        return str(self.values.get(name, {}).get("image") or "")


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


def schema_of(factory: object) -> tuple[Setting, ...] | None:
    """The ``SETTINGS`` a provider declares, on its class or in its module (or
    a base class's, for a subclass in a module of its own)."""
    schema = getattr(factory, "SETTINGS", None)
    for owner in getattr(factory, "__mro__", (factory,)):
        if schema is not None:
            break
        module = sys.modules.get(getattr(owner, "__module__", "") or "")
        schema = getattr(module, "SETTINGS", None)
    return tuple(schema) if schema is not None else None


def shown(schema: Sequence[Setting] | None, raw: Mapping[str, str]) -> dict[str, str]:
    """The raw settings as they may be shown: secrets masked by the schema's
    flags; without a schema nothing says which are secret, so all are."""
    if schema is None:
        return {key: MASK for key in raw}
    return masked(schema, raw)


def discover() -> dict[str, EntryPoint]:
    return plugins.claimed(GROUP)


def check(names: tuple[str, ...] | None = None,
          environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What would leave each enabled provider broken, found without making any
    (no vendor SDK is started): a missing plugin, one that fails to import, or
    settings its schema refuses. For a start-up check such as ``manage.py check``."""
    return load(names, environ, make=False).broken


def load(names: tuple[str, ...] | None = None,
         environ: Mapping[str, str] | None = None, make: bool = True) -> Registry:
    """The enabled providers, made from their settings once these pass their
    schema (``make=False``: checked only, none made)."""
    wanted = enabled_names(environ) if names is None else names
    available = discover()
    registry = Registry()
    for name in wanted:
        raw = settings_for(name, environ)
        point = available.get(name)
        if point is None:
            registry.settings[name] = shown(None, raw)
            registry.broken[name] = (f"no installed plugin provides it (entry-point group "
                                     f"{GROUP!r} has: {', '.join(sorted(available)) or 'none'})")
            continue
        problem = _load_one(registry, name, point, raw, make)
        if problem:
            registry.broken[name] = problem
            if make:
                log.error("provider %s could not be loaded: %s", name, problem)
    return registry


def _load_one(registry: Registry, name: str, point: EntryPoint,
              raw: dict[str, str], make: bool) -> str:
    """Make one provider into ``registry``; return what went wrong, if anything."""
    try:
        factory = point.load()
    except Exception as exc:  # a plugin's failure must not take the others down
        registry.settings[name] = shown(None, raw)
        return f"{type(exc).__name__}: {exc}"
    schema = schema_of(factory)
    registry.settings[name] = shown(schema, raw)
    if schema is not None:
        registry.schemas[name] = schema  # shown for a broken provider too
    try:
        values = parse(name, schema, raw) if schema is not None else {}
    except SettingsError as exc:
        return f"SettingsError: {exc}"
    if not make:
        return ""
    try:
        provider = factory(raw)
    except Exception as exc:  # a plugin's failure must not take the others down
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(provider, Provider):
        return f"{point.value} did not return a Provider"
    registry.providers[name] = provider
    registry.values[name] = values
    return ""
