"""The package's layers, checked on its source (AST, nothing is imported).

The folders are the layers, lowest first: ``contracts`` (facts and formats every stage
shares), then the pipeline in the order an image travels it (``images`` -> ``split`` -> ``run``
-> ``report``), then ``tools`` beside the pipeline, and on top the modules people and
notebooks call (the ``cli`` package, ``book``, ``hosted``, at the package's top level).

Rules:
1. a module imports only from its own layer or a lower one;
2. no module takes another module's ``_private`` name (``from .x import _y`` or ``x._y``);
3. imports of package modules stand at module top; one inside a function needs an entry in
   ``LAZY`` saying why (a stale entry fails too, so the list stays true).
Imports under ``if TYPE_CHECKING:`` (annotations only) and under ``if __name__ == "__main__":``
(``python -m`` launchers, never run on import) are not edges of the graph.

The checker is exercised on a small planted package first, so each rule is seen to fail.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jewelnet_utils"

# Lowest first. A module may import from its own layer and those listed before it.
LAYER_ORDER = ("contracts", "images", "split", "run", "report", "tools", "top")
# Modules and folders at the package's top level that are not a layer of their own, and their
# layer (a module in a layer's folder is in that layer; one in cli/ is on top, like cli/).
TOP_LEVEL = {
    # The package's __init__ only silences TensorFlow's start-up lines (contracts.quiet).
    "__init__": "contracts",
    "cli": "top",
    "book": "top",
    "hosted": "top",
}

KERAS = "imports Keras (and TensorFlow, seconds of start-up); loaded only where a model is"
CYCLE = "the two modules need each other; the lazy side breaks the import cycle"
PENDING = "no reason of its own: to move to the top in that module's restructuring"
TUNER = "imports KerasTuner as well as Keras; only `jewelnet tune` needs it"
# (importer, imported) -> why the import sits inside a function.
LAZY: dict[tuple[str, str], str] = {
    ("tools.bench", "split.augment"): KERAS,
    ("tools.bench", "run.models"): KERAS,
    ("tools.bench", "run.train"): KERAS,
    ("report.evaluate", "split.augment"): KERAS,
    ("report.evaluate", "run.models"): KERAS,
    ("tools.preflight", "run.models"): KERAS,
    ("run.pretrain", "run.models"): KERAS + "; " + CYCLE,
    ("run.models", "run.pretrain"): CYCLE,
    ("book", "run.train"): KERAS,
    ("book", "run.models"): KERAS,
    ("cli.run", "run.train"): KERAS,
    ("cli.run", "run.tuning"): TUNER,
    ("cli.tools", "tools.calibrate"): KERAS,
    ("images.audit", "images.duplicates"): CYCLE,
    ("images.duplicates", "images.audit"): CYCLE,
    ("hosted", "contracts.config"): "hosted runs in a notebook's first cell, before "
                                    "dependencies exist",
    ("images.duplicates", "contracts.config"): PENDING,
    ("images.duplicates", "images.synth"): PENDING,
    ("images.duplicates", "contracts.utils"): PENDING,
    ("tools.preflight", "tools.bench"): PENDING,
}


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    lazy: bool
    names: tuple[str, ...]  # names taken from the imported module ("" for the module itself)


def _guarded(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` or ``if __name__ == "__main__":``."""
    test = node.test
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def module_names(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name relative to it ("report.evaluate", "cli";
    a folder's ``__init__`` is named by the folder)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name: its folder, or TOP_LEVEL's entry for it (or for the
    top-level folder it is in)."""
    head = module.split(".")[0]
    return head if head in LAYER_ORDER else TOP_LEVEL.get(head)


def _package_of(module: str, path: Path) -> list[str]:
    parts = module.split(".")
    return parts if path.name == "__init__.py" and module != "__init__" else parts[:-1]


def _targets(node: ast.ImportFrom, package: list[str],
             modules: set[str]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, names taken from it) for each name of one relative import: ``from .x import
    y`` takes the module ``x.y`` when there is one, else the name ``y`` of module ``x``."""
    base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
    parent = [*base, *(node.module.split(".") if node.module else [])]
    for alias in node.names:
        candidate = ".".join([*parent, alias.name])
        if candidate in modules:
            yield candidate, ("",)
        else:
            yield ".".join(parent) or "__init__", (alias.name,)


def edges(module: str, path: Path, modules: set[str]) -> Iterator[Edge]:
    """Every relative import of one module, marked lazy when it runs inside a function."""
    package = _package_of(module, path)

    def visit(node: ast.AST, lazy: bool) -> Iterator[Edge]:
        if isinstance(node, ast.If) and _guarded(node):
            for other in node.orelse:
                yield from visit(other, lazy)
            return
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            for target, names in _targets(node, package, modules):
                yield Edge(module, target, node.lineno, lazy, names)
        inner = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, lazy or inner)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), False)


def _dotted(node: ast.AST) -> list[str]:
    """``a.b.c`` as ["a", "b", "c"] (empty when the chain does not start at a name)."""
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return [*head, node.attr] if head else []
    return [node.id] if isinstance(node, ast.Name) else []


def private_attributes(module: str, path: Path,
                       modules: set[str]) -> Iterator[tuple[str, int]]:
    """``x._y`` or ``x.Y._z`` where ``x`` is a package module imported as ``from . import x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _package_of(module, path)
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            for alias, (_module, names) in zip(node.names, _targets(node, package, modules),
                                               strict=True):
                if names == ("",):
                    aliases.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        chain = _dotted(node)
        if chain and chain[0] in aliases and not node.attr.startswith("__"):
            yield ".".join(chain), node.lineno


def check_package(package: Path, order: tuple[str, ...],
                  lazy_allowed: Mapping[tuple[str, str], str],
                  layer: Callable[[str], str | None] | None = None) -> list[str]:
    """Every breach of the three rules in ``package``, one line each (empty: all kept)."""
    layer = layer or layer_of
    found = module_names(package)
    modules = set(found)
    rank = {m: order.index(layer(m)) for m in modules if layer(m) in order}
    problems = [f"{m}: in no layer" for m in sorted(modules - set(rank))]
    lazy_seen = set()
    for me, path in found.items():
        for edge in edges(me, path, modules):
            where = f"{me}:{edge.line}"
            if edge.imported in rank and me in rank and rank[edge.imported] > rank[me]:
                problems.append(f"{where}: upward import of {edge.imported} "
                                f"({order[rank[me]]} -> {order[rank[edge.imported]]})")
            problems += [f"{where}: private name {edge.imported}.{name}"
                         for name in edge.names if name.startswith("_")
                         and not name.startswith("__")]
            if edge.lazy and edge.imported != me:
                lazy_seen.add((me, edge.imported))
                if (me, edge.imported) not in lazy_allowed:
                    problems.append(f"{where}: import of {edge.imported} inside a function, "
                                    "with no reason in the allow-list")
        problems += [f"{me}:{line}: private name {name}"
                     for name, line in sorted(private_attributes(me, path, modules),
                                              key=lambda hit: hit[1])]
    problems += [f"{a} -> {b}: allowed lazy import no longer exists; drop it from the list"
                 for a, b in sorted(set(lazy_allowed) - lazy_seen)]
    return problems


def test_the_package_keeps_its_layers():
    assert check_package(PACKAGE, LAYER_ORDER, LAZY) == []


def test_the_folders_are_the_layers():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    layer_folders = folders - set(TOP_LEVEL)
    assert layer_folders == set(LAYER_ORDER) - {"top"}
    assert {m for m in module_names(PACKAGE) if "." not in m} - layer_folders == set(TOP_LEVEL)


def plant(root: Path, files: Mapping[str, str]) -> Path:
    package = root / "pkg"
    for name, source in files.items():
        path = package / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return package


PLANTED = {"__init__": "", "low/__init__": "", "high/__init__": ""}
PLANTED_ORDER = ("low", "high")


def _planted_layer(module: str) -> str | None:
    return module.split(".")[0] if module != "__init__" else "low"


def test_a_planted_upward_import_is_reported(tmp_path):
    package = plant(tmp_path, {
        **PLANTED,
        "high/cli": "from ..low.config import LIMIT\n",  # downward: fine
        "low/config": "from ..high.cli import main\nLIMIT = 1\n",  # upward: low -> high
        "high/data": "from .cli import main\n",  # same layer: fine
    })
    assert check_package(package, PLANTED_ORDER, {}, _planted_layer) == [
        "low.config:1: upward import of high.cli (low -> high)"]


def test_a_planted_private_reach_in_is_reported(tmp_path):
    package = plant(tmp_path, {
        **PLANTED,
        "low/config": "_SECRET = 1\n",
        "high/cli": "from ..low.config import _SECRET\n",
        "high/data": ("from ..low import config\n\n"
                      "VALUE = config._SECRET + config.__name__.count('x')\n"
                      "TABLE = config.Layer._TABLE\n"),
    })
    assert check_package(package, PLANTED_ORDER, {}, _planted_layer) == [
        "high.cli:1: private name low.config._SECRET",
        "high.data:3: private name config._SECRET",
        "high.data:4: private name config.Layer._TABLE"]


def test_lazy_imports_need_a_listed_reason(tmp_path):
    package = plant(tmp_path, {
        **PLANTED,
        "low/config": "",
        "high/cli": "def main():\n    from ..low import config\n    return config\n",
        "high/data": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from .cli import main\n"
                      "def load():\n    from ..low.config import LIMIT\n    return LIMIT\n"
                      "if __name__ == '__main__':\n    from .cli import main\n"),
    })
    assert check_package(package, PLANTED_ORDER, {}, _planted_layer) == [
        "high.cli:2: import of low.config inside a function, with no reason in the allow-list",
        "high.data:5: import of low.config inside a function, with no reason in the allow-list"]
    allowed = {("high.cli", "low.config"): "why", ("high.data", "low.config"): "why",
               ("high.data", "high.cli"): "stale"}
    assert check_package(package, PLANTED_ORDER, allowed, _planted_layer) == [
        "high.data -> high.cli: allowed lazy import no longer exists; drop it from the list"]
