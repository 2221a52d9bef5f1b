"""AIMA's pages live under a strict Content Security Policy (script-src 'self', no
inline script): the upload page's script, the job list and the dashboard run under it
without one violation, which Chromium would report on its console."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page

from devtools.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PAGES = ("/upload/", "/jobs/", "/dashboard/")
# The page's own record of what the policy blocked: an event, whatever the console says.
LISTEN = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""


def watch(page: Page) -> list[str]:
    """Every console error and uncaught exception of the page, as text."""
    seen: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            seen.append(f"console {message.type}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    page.add_init_script(LISTEN)
    return seen


def csp_complaints(seen: list[str], page: Page) -> list[str]:
    return ([line for line in seen
             if "Content Security Policy" in line or line.startswith("page error")]
            + page.evaluate("window.__violations"))


def test_the_pages_run_under_the_strict_policy_without_a_violation(
        signed_in: Page, stack: Stack, shoot: Callable[[Page, str], Path]):
    page = signed_in
    seen = watch(page)

    # The watch sees a violation: an inline script the policy must refuse.
    page.goto(f"{stack.base_url}/jobs/")
    page.evaluate("""() => { const s = document.createElement('script');
                              s.textContent = 'window.__ran = true';
                              document.body.appendChild(s); }""")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert any("Content Security Policy" in line for line in seen), seen
    seen.clear()

    for path in PAGES:
        response = page.goto(f"{stack.base_url}{path}")
        assert response is not None and response.ok, (path, response and response.status)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, (path, policy)
        page.wait_for_load_state("networkidle")
        shoot(page, path.strip("/"))
        assert csp_complaints(seen, page) == [], path
