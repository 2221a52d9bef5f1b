"""Each provider's settings, declared once: name, type, default, secret or not.

A provider module declares ``SETTINGS`` (a tuple of ``Setting``) and reads its
values with ``parse``; the registry validates every enabled provider's
environment against its schema at start, so that a typo'd number or a missing
key is one clear line naming the variable rather than a failure at the first
launch, and the admin shows the settings with every secret masked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MASK = "••••"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A provider's setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type = str  # str, int, float or bool
    default: Any = None  # None with required=True: must be set
    secret: bool = False
    required: bool = False
    help: str = ""
    # The values a text setting may take, matched without regard to case and
    # given back as spelt here; empty: any.
    choices: tuple[str, ...] = ()

    def variable(self, provider: str) -> str:
        return f"AIMA_{provider.upper().replace('-', '_')}_{self.name.upper()}"

    def convert(self, provider: str, raw: str) -> Any:
        text = raw.strip()
        if self.choices:
            return self.choose(provider, text)
        try:
            if self.type is bool:
                if text.lower() in _TRUE | _FALSE:
                    return text.lower() in _TRUE
                raise ValueError(text)
            return self.type(text)
        except ValueError:
            kind = {int: "a whole number", float: "a number",
                    bool: "true or false"}.get(self.type, self.type.__name__)
            shown = MASK if self.secret else repr(raw)
            raise SettingsError(f"{self.variable(provider)} must be {kind}, not {shown}") from None

    def choose(self, provider: str, text: str) -> str:
        for choice in self.choices:
            if choice.lower() == text.lower():
                return choice
        raise SettingsError(f"{self.variable(provider)} must be one of "
                            f"{', '.join(self.choices)}, not {text!r}")


# Every provider's own agent image; blank: the deployment's (AIMA_AGENT_IMAGE),
# which the control plane fills in, since providers know no Django setting.
IMAGE = Setting("image", str, default="",
                help="the agent image its instances run; empty: AIMA_AGENT_IMAGE")


def parse(provider: str, schema: Sequence[Setting],
          raw: Mapping[str, str]) -> dict[str, Any]:
    """The typed settings of ``provider`` from its raw ``{"key": value}`` strings;
    unset or blank values take their defaults. Raises ``SettingsError`` naming
    the first missing or malformed variable, and one for a key the schema does
    not know (a typo would otherwise be ignored silently)."""
    known = {setting.name for setting in schema}
    unknown = sorted(set(raw) - known)
    if unknown:
        names = ", ".join(Setting(name).variable(provider) for name in unknown)
        raise SettingsError(f"{names}: not a setting of provider {provider!r} "
                            f"(it has: {', '.join(sorted(known)) or 'none'})")
    values: dict[str, Any] = {}
    for setting in schema:
        text = raw.get(setting.name)
        if text is None or not text.strip():
            if setting.required:
                raise SettingsError(f"{setting.variable(provider)} is required"
                                    + (f": {setting.help}" if setting.help else ""))
            values[setting.name] = setting.default
        else:
            values[setting.name] = setting.convert(provider, text)
    return values


def masked(schema: Sequence[Setting], raw: Mapping[str, str]) -> dict[str, str]:
    """The raw settings for display: every secret one masked."""
    secret = {setting.name for setting in schema if setting.secret}
    return {key: (MASK if key in secret else value) for key, value in raw.items()}
