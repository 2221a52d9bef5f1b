"""deploy/compose.yaml holds what the VPS needs and says what it reads: every
variable it reads is in compose.env.example, every image can be replaced by a
variable, every long-running service has a restart policy and a memory limit,
the limits fit an 8 GB VPS with room for the OS, and there is exactly one beat.
deploy/smoke.sh runs the file itself (a step of .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")
MIB = {"k": 1 / 1024, "m": 1, "g": 1024}
# What the VPS keeps for the OS and PostgreSQL's share of the page cache.
VPS_MIB, KEPT_FOR_OS_MIB = 8192, 2048


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def mebibytes(limit: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([kmg])", limit.lower()).groups()
    return int(number) * MIB[unit]


def test_every_variable_it_reads_is_documented_in_the_example():
    read = set(VARIABLE.findall((DEPLOY / "compose.yaml").read_text()))
    example = (DEPLOY / "compose.env.example").read_text()
    documented = set(re.findall(r"^#?(\w+)=", example, re.MULTILINE))
    assert read - documented == set()
    assert documented - read == set()


def test_every_image_is_upstream_by_default_and_replaceable():
    for name, service in compose()["services"].items():
        image = service["image"]
        assert re.fullmatch(r"\$\{AIMA_\w+_IMAGE:-[\w./-]+(:[\w.-]+)?\}", image), (name, image)


def test_services_restart_and_fit_an_8_gb_vps():
    services = compose()["services"]
    always_on = {name: s for name, s in services.items()
                 if name != "setup" and "profiles" not in s}
    for name, service in services.items():
        assert "mem_limit" in service, name
        assert service["restart"] == ("no" if name == "setup" else "unless-stopped"), name
    limits = sum(mebibytes(s["mem_limit"]) for s in always_on.values())
    assert limits <= VPS_MIB - KEPT_FOR_OS_MIB, limits
    monitoring = sum(mebibytes(s["mem_limit"]) for s in services.values() if "profiles" in s)
    assert limits + monitoring <= VPS_MIB - KEPT_FOR_OS_MIB + 1024


def test_exactly_one_beat_and_the_app_reached_only_through_the_proxy():
    services = compose()["services"]
    beats = [n for n, s in services.items() if "beat" in " ".join(s.get("command", []))]
    assert beats == ["beat"]
    assert "worker" in services and "--beat" not in services["worker"]["command"]
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"proxy", "rabbitmq", "grafana"}
    # Only the proxy on public addresses; the broker and Grafana on the loopback.
    for name in ("rabbitmq", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
