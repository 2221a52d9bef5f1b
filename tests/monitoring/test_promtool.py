"""promtool (Debian's prometheus package) accepts deploy/monitoring's Prometheus
configuration and alert rules, and the rules pass their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.monitoring.files import MONITORING, PROMETHEUS_YML, RULE_TESTS, RULES

PROMTOOL = "/usr/bin/promtool"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          check=False)


def test_the_configuration_checks_with_its_token_file_in_place(tmp_path: Path) -> None:
    # A full check (not --syntax-only) also wants the credentials file to exist and
    # loads the rule files, so it runs on a copy with a token written beside it,
    # as an operator would install it.
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    (copy / "aima-metrics.token").write_text("a-metrics-token\n")
    result = promtool("check", "config", str(copy / PROMETHEUS_YML.name), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_the_configuration_is_refused_without_its_token_file(tmp_path: Path) -> None:
    # The same check fails when the token is missing: the test above proves something.
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    (copy / "aima-metrics.token").unlink(missing_ok=True)
    result = promtool("check", "config", str(copy / PROMETHEUS_YML.name), cwd=tmp_path)
    assert result.returncode != 0
    assert "aima-metrics.token" in result.stdout + result.stderr


def test_the_alert_rules_check() -> None:
    result = promtool("check", "rules", str(RULES), cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout + result.stderr


def test_every_alert_rule_passes_its_unit_tests() -> None:
    result = promtool("test", "rules", str(RULE_TESTS), cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
