"""The enabled providers as the admin shows them above the cloud instances:
loaded or broken (and why), their capabilities, and every setting they
declare with its variable, its value (secrets masked, unset ones at their
default) and what it means.

It reads the loaded registry only: no vendor is called (health is
``GET /api/v1/providers/``), so the page opens even when a vendor is down.
"""

from __future__ import annotations

from dataclasses import dataclass

from aima_web.instances.registry import providers
from providers.registry import Registry
from providers.settings_schema import MASK, Setting

CAPABILITIES = (("supports_pause", "pause"), ("supports_spot", "spot"),
                ("supports_regions", "regions"), ("supports_multi_gpu", "multi-GPU"))


@dataclass(frozen=True)
class SettingRow:
    variable: str
    value: str
    help: str


@dataclass(frozen=True)
class ProviderRow:
    name: str
    problem: str  # empty: loaded
    capabilities: tuple[str, ...]
    settings: tuple[SettingRow, ...]


def provider_rows(registry: Registry | None = None) -> list[ProviderRow]:
    registry = registry or providers()
    rows = []
    for name in [*registry.providers, *registry.broken]:
        provider = registry.providers.get(name)
        capabilities = tuple(label for attribute, label in CAPABILITIES
                             if provider is not None and getattr(provider, attribute, False))
        rows.append(ProviderRow(name=name, problem=registry.broken.get(name, ""),
                                capabilities=capabilities,
                                settings=setting_rows(name, registry)))
    return rows


def setting_rows(name: str, registry: Registry) -> tuple[SettingRow, ...]:
    """The declared settings in their order, then any set but not declared
    (what breaks a provider, or a plugin's that declares none), all as shown."""
    shown = registry.settings.get(name, {})
    schema = registry.schemas.get(name, ())
    declared = [SettingRow(setting.variable(name), _value(setting, shown), _help(setting))
                for setting in schema]
    known = {setting.name for setting in schema}
    extra = [SettingRow(Setting(key).variable(name), value, "")
             for key, value in sorted(shown.items()) if key not in known]
    return tuple(declared + extra)


def _help(setting: Setting) -> str:
    if not setting.choices:
        return setting.help
    return f"{setting.help} (one of: {', '.join(setting.choices)})".strip()


def _value(setting: Setting, shown: dict[str, str]) -> str:
    if setting.name in shown:
        return shown[setting.name]
    if setting.required:
        return "(required, not set)"
    if setting.secret:
        return f"(default: {MASK})"
    default = "" if setting.default is None else str(setting.default)
    return f"(default: {default})" if default else "(not set)"
