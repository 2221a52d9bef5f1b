"""The chaos suite is a CI step of its own (``-m chaos``, after the main suite): a run
that does not ask for it by its marker leaves it out. Its scenarios share one
PostgreSQL cluster and one RabbitMQ node of their own, and their tallies are printed
as one table at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import rabbitmq_node
from tests.chaos import services
from tests.chaos import stack as chaos_stack
from tests.chaos.harness import Tally, table

JOBS = 20
TALLIES: list[Tally] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLIES:
        terminalreporter.section("chaos: jobs per scenario")
        terminalreporter.write_line(table(TALLIES))


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Iterator[chaos_stack.World]:
    """The cluster, the node and the template database every scenario copies."""
    node = rabbitmq_node.start(tmp_path_factory.mktemp("rabbitmq") / "node")
    try:
        with services.cluster() as cluster:
            yield chaos_stack.prepare(cluster, node, tmp_path_factory.mktemp("world"), JOBS)
    finally:
        node.stop()


@pytest.fixture
def tallies() -> list[Tally]:
    return TALLIES
