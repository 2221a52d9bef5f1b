"""Each provider's operator page (``deploy/providers/<name>.md``) against the
settings its module declares: every setting has a row in the page's table, and
the page names no ``AIMA_<NAME>_*`` variable the provider would refuse, so that
a setting added, renamed or dropped in code cannot leave the page behind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from providers.settings_schema import Setting

PROJECT = Path(__file__).resolve().parents[2]
DOCS = PROJECT / "deploy" / "providers"
# The pages there now; a new page is picked up by the glob below, and this
# floor catches a page removed or renamed by mistake.
DOCUMENTED = {"vastai", "runpod", "aws", "gcp", "azure"}
PAGES = sorted(path.stem for path in DOCS.glob("*.md"))


def schema(provider: str) -> tuple[Setting, ...]:
    """The ``SETTINGS`` of ``providers.<provider>``, as the registry checks them."""
    return tuple(importlib.import_module(f"providers.{provider}").SETTINGS)


def variables_named(provider: str, text: str) -> set[str]:
    prefix = f"AIMA_{provider.upper().replace('-', '_')}_"
    # Ends on a letter or digit: "AIMA_AZURE_TENANT_ID, _CLIENT_ID" names one.
    return set(re.findall(rf"\b{prefix}[A-Z0-9_]*[A-Z0-9]\b", text))


def table_rows(text: str) -> set[str]:
    """The variables that open a table row: ``| `AIMA_X_Y` | default | meaning |``."""
    return set(re.findall(r"^\|\s*`(AIMA_[A-Z0-9_]+)`\s*\|", text, re.MULTILINE))


def test_every_documented_provider_has_a_page() -> None:
    assert set(PAGES) >= DOCUMENTED


@pytest.mark.parametrize("provider", PAGES)
def test_page_has_a_row_for_every_setting(provider: str) -> None:
    text = (DOCS / f"{provider}.md").read_text(encoding="utf-8")
    declared = [setting.variable(provider) for setting in schema(provider)]
    assert declared, f"providers.{provider} declares no settings"
    missing = [name for name in declared if name not in table_rows(text)]
    assert not missing, f"deploy/providers/{provider}.md has no table row for {missing}"


@pytest.mark.parametrize("provider", PAGES)
def test_page_names_no_variable_that_is_not_a_setting(provider: str) -> None:
    text = (DOCS / f"{provider}.md").read_text(encoding="utf-8")
    declared = {setting.variable(provider) for setting in schema(provider)}
    stale = sorted(variables_named(provider, text) - declared)
    assert not stale, (f"deploy/providers/{provider}.md names {stale}, which "
                       f"providers.{provider} does not declare")
