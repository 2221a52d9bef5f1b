"""Dependencies run one way (docs/architecture.md): the tree as it stands keeps
every layer's rule, and the check itself catches each kind of breach."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.layers import violations

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_in_the_tree_runs_the_allowed_way() -> None:
    assert violations(ROOT) == []


def plant(root: Path, relative: str, source: str) -> None:
    path = root / relative
    for parent in reversed(path.relative_to(root).parents[:-1]):
        (root / parent).mkdir(exist_ok=True)
        (root / parent / "__init__.py").touch()
    path.write_text(source)


@pytest.mark.parametrize(("relative", "source", "why"), [
    ("aima_tasks/kernel/placement/bad.py", "import django\n",
     "a kernel module imports django"),
    ("aima_tasks/kernel/bad.py", "def f():\n    from celery import shared_task\n",
     "a kernel module imports celery"),
    ("aima_tasks/kernel/bad.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kombu import Queue\n",
     "a kernel module imports kombu"),
    ("aima_tasks/kernel/bad.py", "from aima_tasks import topology\n",
     "a kernel module imports the wiring layer"),
    ("aima_tasks/kernel/simulation/bad.py", "from ...topology import declared_queues\n",
     "a kernel module imports the wiring layer"),
    ("aima_tasks/bad.py", "from django.conf import settings\n",
     "a wiring module imports django"),
    ("aima_web/jobs/bad.py", "def f():\n    import agents.analyzers\n",
     "a web module imports the agents layer"),
    ("aima_web/bad.py", "from devtools.stack import start\n",
     "a web module imports the devtools layer"),
    ("agents/bad.py", "from aima_web.jobs.models import Job\n",
     "an agents module imports the web layer"),
    ("agents/bad.py", "from providers import registry\n",
     "an agents module imports the providers layer"),
    ("providers/bad.py", "from django.db import models\n",
     "a providers module imports django"),
    ("providers/bad.py", "from agents import nvml\n",
     "a providers module imports the agents layer"),
])
def test_a_planted_violation_is_found(tmp_path: Path, relative: str, source: str,
                                      why: str) -> None:
    plant(tmp_path, relative, source)
    found = violations(tmp_path)
    assert len(found) >= 1
    assert all(line.startswith(f"{relative}:") for line in found), found
    assert why in found[0], found


def test_an_allowed_import_is_not_a_violation(tmp_path: Path) -> None:
    plant(tmp_path, "aima_web/jobs/fine.py",
          "from aima_tasks.kernel.routing import Scope\nfrom aima_tasks import topology\n"
          "from providers import registry\nimport django\n")
    plant(tmp_path, "agents/fine.py", "from aima_tasks.kernel import work\nimport celery\n")
    plant(tmp_path, "devtools/fine.py", "import agents.samples\nimport aima_web.celery\n")
    assert violations(tmp_path) == []
