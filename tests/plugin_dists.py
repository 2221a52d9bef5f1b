"""Installed-looking third-party distributions for entry-point tests: a
``<dist>-1.0.dist-info`` folder on a path the test puts on PYTHONPATH."""

from __future__ import annotations

from pathlib import Path


def fake_distribution(site: Path, dist: str, group: str, name: str, target: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    info.joinpath("entry_points.txt").write_text(f"[{group}]\n{name} = {target}\n")
