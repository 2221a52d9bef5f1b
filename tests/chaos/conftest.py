"""The chaos suite is a CI step of its own (``-m chaos``, after the main suite): a run
that does not ask for it by its marker leaves it out. Its scenarios share one
PostgreSQL cluster and one RabbitMQ node of their own, and their tallies are printed
as one table at the end of the run."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres_cluster, rabbitmq_node
from tests.chaos import stack as chaos_stack
from tests.chaos.harness import Tally, table

JOBS = 20
TALLIES: list[Tally] = []



def pytest_terminal_summary(terminalreporter) -> None:
    if TALLIES:
        terminalreporter.section("chaos: jobs per scenario")
        terminalreporter.write_line(table(TALLIES))


@pytest.fixture(scope="session")
def world(work: Path) -> Iterator[chaos_stack.World]:
    """The cluster, the node and the template database every scenario copies."""
    node = rabbitmq_node.start(work / "rabbitmq")
    try:
        with postgres_cluster.cluster() as cluster:
            yield chaos_stack.prepare(cluster, node, work / "world", JOBS)
    finally:
        node.stop()


@pytest.fixture(scope="session")
def work(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The run's folder, outside pytest's rotation of its temporary folders (which other
    runs on the machine would empty): kept, with every process's log, when a test failed."""
    folder = Path(tempfile.mkdtemp(prefix="aima-chaos-"))
    yield folder
    if request.session.testsfailed:
        print(f"\nchaos: the logs are kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def scenario_folder(work: Path, request: pytest.FixtureRequest) -> Path:
    return work / re.sub(r"[^\w.-]+", "_", request.node.name)


@pytest.fixture
def tallies() -> list[Tally]:
    return TALLIES
