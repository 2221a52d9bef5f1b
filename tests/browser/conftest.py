"""Browser tests: a real headless Chromium (Debian's, driven by Playwright; nothing
downloaded) against a whole AIMA stack, one per test module. Each step leaves a
screenshot under artifacts/browser/ (AIMA_ARTIFACTS_DIR overrides), kept by CI as
an artefact, and a failing test one more of the page as it was.

A step of its own in CI (``-m browser``): a run that does not ask for it by its
marker leaves it out, as tests/fuzz does."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from aima_tasks.broker import PROJECT_ROOT
from aima_web.celery import app
from devtools import stack as local_stack
from tests.e2e.conftest import new_database

SIMULATED_GPU = "Browser RTX (simulated):24"
OFFERS = PROJECT_ROOT / "bench" / "simulation" / "offers.csv"
# Long enough for a page to answer on a busy CI machine, short enough that a
# missing element fails the test in seconds rather than at pytest's timeout.
STEP_TIMEOUT_MS = 15_000
FAILED = pytest.StashKey[bool]()



@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    # The page fixture's teardown reads this to leave a screenshot of a failure.
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


def artifacts_dir() -> Path:
    return Path(os.environ.get("AIMA_ARTIFACTS_DIR") or PROJECT_ROOT / "artifacts") / "browser"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[local_stack.Stack]:
    """A stack on a database of its own: the embedded default here, PostgreSQL and
    RabbitMQ where DATABASE_URL and AIMA_BROKER_URL name them (CI)."""
    with new_database(tmp_path_factory.mktemp("db")) as database_url:
        env = {**os.environ, "DATABASE_URL": database_url,
               "AIMA_MEDIA_ROOT": str(tmp_path_factory.mktemp("media"))}
        # Messages left by earlier runs would reach these workers.
        app.control.purge()
        running = local_stack.start(env, tmp_path_factory.mktemp("logs"),
                                    local_stack.free_port(), SIMULATED_GPU,
                                    username="browser", heartbeat_s=2)
        # Real prices, so that each local job's decision lists cloud alternatives and the
        # dashboard has savings to show (no provider is enabled: nothing is rented).
        local_stack.manage(env, "aima_offers", "load", str(OFFERS), "--priced-at", "now")
        yield running
        running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = os.environ.get("AIMA_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).is_file():
        pytest.fail(f"no Chromium at {executable}: install Debian's (apt-get install "
                    "chromium; .ci/run does) or name one in AIMA_CHROMIUM", pytrace=False)
    launched = playwright.chromium.launch(executable_path=executable, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shoot(page, step)`` saves the page as <test>/<nn>-<step>.png, numbered in
    the order the steps were taken."""
    folder = artifacts_dir() / _safe(request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # a rerun's pictures only
    taken: list[Path] = []

    def take(page: Page, step: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{_safe(step)}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest,
         shoot: Callable[[Page, str], Path]) -> Iterator[Page]:
    """A fresh browser context's page; after a failed test, its screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    if request.node.stash.get(FAILED, False):
        for index, each in enumerate(context.pages):
            try:
                shoot(each, f"failure-{index}")
            except Exception as exc:  # the failure itself matters more than its picture
                print(f"no failure screenshot of {each.url}: {exc}")
    context.close()


@pytest.fixture
def signed_in(page: Page, stack: local_stack.Stack,
              shoot: Callable[[Page, str], Path]) -> Page:
    """The page, logged in through the site's /login/ as the stack's admin."""
    page.goto(f"{stack.base_url}/login/")
    form = page.locator("form#login-form")
    form.locator("[name=username]").fill(stack.username)
    form.locator("[name=password]").fill(stack.password)
    shoot(page, "login")
    form.locator("button[type=submit]").click()
    # LOGIN_REDIRECT_URL: a login that failed stays on /login/ with its error.
    page.wait_for_url(f"{stack.base_url}/upload/")
    return page
