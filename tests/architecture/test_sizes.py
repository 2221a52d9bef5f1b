"""Modules small enough to hold one job, functions short enough to read at once:
no production module over 400 lines and no function over 60 (migrations are
generated and exempt)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.layers import sources

ROOT = Path(__file__).resolve().parents[2]
MODULE_LINES = 400
FUNCTION_LINES = 60


def oversized(root: Path) -> list[str]:
    found = []
    for path in sources(root):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        name = path.relative_to(root)
        if (lines := text.count("\n")) > MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno}: {node.name} is {length} lines")
    return found


def test_no_module_or_function_is_oversized() -> None:
    assert oversized(ROOT) == []


def test_an_oversized_function_and_module_are_found(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(FUNCTION_LINES))
    (tmp_path / "agents" / "long.py").write_text(f"def f():\n{body}" + "\n" * MODULE_LINES)
    assert oversized(tmp_path) == [
        f"agents/long.py: {FUNCTION_LINES + 1 + MODULE_LINES} lines",
        f"agents/long.py:1: f is {FUNCTION_LINES + 1} lines",
    ]
