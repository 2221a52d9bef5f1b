"""Where deploy/monitoring's files are, and the PromQL expressions they hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus.yml"
RULES = MONITORING / "rules" / "aima.rules.yml"
RULE_TESTS = MONITORING / "rules" / "aima.rules.test.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "aima.yml"


def rule_expressions() -> dict[str, str]:
    """Each alert's (or recording rule's) name and its expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule["expr"]
            for group in groups for rule in group["rules"]}


def dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_expressions(board: dict[str, Any]) -> dict[str, list[str]]:
    """Each panel's title and its targets' PromQL expressions."""
    return {panel["title"]: [target["expr"] for target in panel.get("targets", [])]
            for panel in panels(board)}
