"""Which of AIMA's packages may import what: the layers of docs/architecture.md
as data, and a reader that finds every import in a tree of sources.

Every import counts — at module level, inside functions, under
``if TYPE_CHECKING:``, relative or absolute — because each is a dependency
someone will one day follow. There is no allowlist: a layer's rule holds for
every module in it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Third-party packages a layer may be forbidden: the web framework, the messaging stack.
WEB_FRAMEWORK = ("django", "rest_framework", "drf_spectacular", "axes")
MESSAGING = ("celery", "kombu")


@dataclass(frozen=True)
class Layer:
    name: str
    # Module prefixes that make up the layer; the longest matching prefix wins.
    packages: tuple[str, ...]
    # The layers of ours it may import (its own included).
    may_import: tuple[str, ...]
    # Third-party packages it must not import.
    forbidden: tuple[str, ...] = ()


LAYERS = (
    Layer("kernel", ("aima_tasks.kernel",), ("kernel",), (*WEB_FRAMEWORK, *MESSAGING)),
    Layer("wiring", ("aima_tasks",), ("kernel", "wiring"), WEB_FRAMEWORK),
    Layer("providers", ("providers",), ("kernel", "wiring", "providers"), WEB_FRAMEWORK),
    Layer("agents", ("agents",), ("kernel", "wiring", "agents"), WEB_FRAMEWORK),
    Layer("web", ("aima_web",), ("kernel", "wiring", "providers", "web")),
    # The demo's process stack and API client: above everything, imported by nothing.
    Layer("devtools", ("devtools",), ("kernel", "wiring", "providers", "agents", "web",
                                      "devtools")),
)


def layer_of(module: str) -> Layer | None:
    best: tuple[int, Layer] | None = None
    for layer in LAYERS:
        for package in layer.packages:
            if (module == package or module.startswith(package + ".")) and (
                    best is None or len(package) > best[0]):
                best = (len(package), layer)
    return best[1] if best else None


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, absolute
    path: Path
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(root: Path, path: Path) -> Iterator[Import]:
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import name" may import a module pkg.name: count both.
            yield Import(module, base, path, node.lineno)
            for alias in node.names:
                if alias.name != "*":
                    yield Import(module, f"{base}.{alias.name}", path, node.lineno)


def broken_rule(imported: Import) -> str | None:
    """Why this import breaks its module's layer, or None when it may stand."""
    layer = layer_of(imported.module)
    if layer is None:
        return None
    target = layer_of(imported.target)
    if target is not None and target.name not in layer.may_import:
        return f"{article(layer.name)} {layer.name} module imports the {target.name} layer"
    top = imported.target.split(".")[0]
    if top in layer.forbidden:
        return f"{article(layer.name)} {layer.name} module imports {top}"
    return None


def sources(root: Path) -> Iterator[Path]:
    tops = {package.split(".")[0] for layer in LAYERS for package in layer.packages}
    for top in sorted(tops):
        yield from sorted((root / top).rglob("*.py"))


def violations(root: Path) -> list[str]:
    found = set()
    for path in sources(root):
        for imported in imports_in(root, path):
            why = broken_rule(imported)
            if why:
                found.add(f"{path.relative_to(root)}:{imported.line}: {why} "
                          f"({imported.module} imports {imported.target})")
    return sorted(found)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
