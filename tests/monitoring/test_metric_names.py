"""Every metric the alert rules and the Grafana dashboards name is one that
/metrics exports (aima_web/monitoring/catalogue.py), and every exported metric
is on a dashboard."""

from __future__ import annotations

import re

import yaml

from aima_web.monitoring.catalogue import BY_NAME, CATALOGUE
from tests.monitoring.files import (
    DASHBOARDS,
    DATASOURCES,
    RULE_TESTS,
    RULES,
    dashboard,
    panel_expressions,
    panels,
    rule_expressions,
)
from tests.monitoring.promql import labels_used, metric_names, unknown_labels

TEMPLATED = re.compile(r"\{\{\s*\$?(?:labels\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def test_the_name_parser_folds_histogram_series_only() -> None:
    expr = ("rate(aima_job_stage_duration_seconds_bucket[5m]) + aima_jobs_finished_total"
            " / aima_analysis_inference_seconds_count + aima_jobs_count")
    assert metric_names(expr) == {"aima_job_stage_duration_seconds", "aima_jobs_finished_total",
                                  "aima_analysis_inference_seconds", "aima_jobs_count"}


def test_every_metric_an_alert_rule_names_is_exported() -> None:
    for alert, expr in rule_expressions().items():
        unknown = metric_names(expr) - set(BY_NAME)
        assert not unknown, f"{alert} names {sorted(unknown)}, not in the catalogue"
        assert metric_names(expr), f"{alert} names no AIMA metric"


def test_every_metric_a_dashboard_names_is_exported() -> None:
    assert DASHBOARDS
    for path in DASHBOARDS:
        for title, exprs in panel_expressions(dashboard(path)).items():
            for expr in exprs:
                unknown = metric_names(expr) - set(BY_NAME)
                assert not unknown, f"{path.name}: {title!r} names {sorted(unknown)}"


def test_every_exported_metric_is_on_a_dashboard_panel() -> None:
    shown = {name for path in DASHBOARDS
             for exprs in panel_expressions(dashboard(path)).values()
             for expr in exprs for name in metric_names(expr)}
    missing = [metric.name for metric in CATALOGUE if metric.name not in shown]
    assert not missing, f"no dashboard panel shows {missing}"


def test_the_rule_tests_feed_only_exported_metrics() -> None:
    # A unit test fed a misspelt series would pass against a misspelt rule.
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for series in case["input_series"]:
            unknown = metric_names(series["series"]) - set(BY_NAME)
            assert not unknown, f"{case['name']!r} feeds {sorted(unknown)}"


def test_dashboards_are_grafana_json_on_the_provisioned_datasource() -> None:
    uids = {source["uid"] for source in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    for path in DASHBOARDS:
        board = dashboard(path)
        assert 36 <= board["schemaVersion"] <= 41 and board["uid"] and board["title"]
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in panels(board):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
            refs = [target["refId"] for target in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), panel["title"]
            sources = [panel.get("datasource")]
            sources += [target["datasource"] for target in panel.get("targets", [])]
            for source in filter(None, sources):
                assert source["uid"] in uids, f"{panel['title']}: datasource {source}"
            if panel["type"] != "row":
                assert panel.get("targets"), f"{panel['title']} has no query"


def test_the_label_reader_finds_matchers_and_groupings() -> None:
    expr = ('sum by (state, le) (rate(aima_job_stage_duration_seconds_bucket{stage="total"}[1h]))'
            ' > ignoring(queue) group_left aima_queue_wait_target_seconds')
    assert labels_used(expr) == {"state", "le", "stage", "queue"}
    assert unknown_labels(expr) == {"state", "queue"}
    assert unknown_labels("aima_cloud_instance_idle_seconds", {"cloud_instance"}) == set()
    assert unknown_labels("aima_cloud_instance_idle_seconds", {"gpu"}) == {"gpu"}


def test_the_rules_use_only_labels_their_metrics_carry() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            templated = set()
            for text in rule.get("annotations", {}).values():
                templated.update(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", text))
            unknown = unknown_labels(rule["expr"], templated)
            assert not unknown, f"{rule.get('alert')} uses labels {sorted(unknown)}"


def test_the_dashboards_use_only_labels_their_metrics_carry() -> None:
    for path in DASHBOARDS:
        for panel in panels(dashboard(path)):
            for target in panel.get("targets", []):
                legend = set(TEMPLATED.findall(target.get("legendFormat", "")))
                unknown = unknown_labels(target["expr"], legend)
                assert not unknown, f"{panel['title']!r} uses labels {sorted(unknown)}"
