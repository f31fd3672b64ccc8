"""The package's layers, checked on its source (AST, nothing is imported).

Rules:
1. a module imports siblings only from its own layer or a lower one;
2. no module takes another module's ``_private`` name (``from .x import _y`` or ``x._y``);
3. sibling imports stand at module top; one inside a function needs an entry in ``LAZY``
   saying why (a stale entry fails too, so the list stays true).
Imports under ``if TYPE_CHECKING:`` (annotations only) and under ``if __name__ == "__main__":``
(``python -m`` launchers, never run on import) are not edges of the graph.

The checker is exercised on a small planted package first, so each rule is seen to fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jewelnet_utils"

# Lowest first. A module may import from its own layer and those listed before it.
LAYER_ORDER = ("contracts", "domain", "tools", "top")
LAYERS: dict[str, tuple[str, ...]] = {
    # Facts, formats and helpers every stage shares; they import nothing above themselves.
    # quiet belongs here because the package's __init__ runs it on import.
    "contracts": ("__init__", "thesis", "config", "utils", "records", "images", "quiet"),
    # The pipeline: images -> split -> run -> report, and its figures.
    "domain": ("data", "duplicates", "synth", "augment", "models", "pretrain", "train",
               "tuning", "evaluate", "plots", "recommend", "comparison"),
    # Tools beside the pipeline: measurements, the thesis audit, the generated protocol page.
    "tools": ("bench", "audit_thesis", "protocol"),
    # What people and notebooks call: the command line, the notebooks' handle, set-up checks.
    "top": ("cli", "notebook_params", "hosted", "preflight"),
}

KERAS = "imports Keras (and TensorFlow, seconds of start-up); loaded only where a model is"
CYCLE = "the two modules need each other; the lazy side breaks the import cycle"
PENDING = "no reason of its own: to move to the top in that module's restructuring"
# (importer, imported) -> why the import sits inside a function.
LAZY: dict[tuple[str, str], str] = {
    ("bench", "augment"): KERAS,
    ("bench", "models"): KERAS,
    ("bench", "train"): KERAS,
    ("evaluate", "augment"): KERAS,
    ("evaluate", "models"): KERAS,
    ("preflight", "models"): KERAS,
    ("pretrain", "models"): KERAS + "; " + CYCLE,
    ("models", "pretrain"): CYCLE,
    ("synth", "train"): KERAS + " (JewelSynth calibration trains the custom CNN)",
    ("notebook_params", "train"): KERAS,
    ("data", "duplicates"): CYCLE,
    ("duplicates", "data"): CYCLE,
    ("hosted", "config"): "hosted runs in a notebook's first cell, before dependencies exist",
    ("duplicates", "config"): PENDING,
    ("duplicates", "synth"): PENDING,
    ("duplicates", "utils"): PENDING,
    ("notebook_params", "data"): PENDING,
    ("notebook_params", "plots"): PENDING,
    ("notebook_params", "synth"): PENDING,
    ("notebook_params", "utils"): PENDING,
    ("preflight", "bench"): PENDING,
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


def _targets(node: ast.ImportFrom, modules: set[str]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(sibling module, names taken from it) for one relative import."""
    if node.module:
        yield node.module.split(".")[0], tuple(a.name for a in node.names)
        return
    for alias in node.names:  # from . import x: a module, or a name of the package's __init__
        if alias.name in modules:
            yield alias.name, ("",)
        else:
            yield "__init__", (alias.name,)


def edges(path: Path, modules: set[str]) -> Iterator[Edge]:
    """Every relative import of one module, marked lazy when it runs inside a function."""
    def visit(node: ast.AST, lazy: bool) -> Iterator[Edge]:
        if isinstance(node, ast.If) and _guarded(node):
            for other in node.orelse:
                yield from visit(other, lazy)
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for target, names in _targets(node, modules):
                yield Edge(path.stem, target, node.lineno, lazy, names)
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


def private_attributes(path: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """``x._y`` or ``x.Y._z`` where ``x`` is a sibling module imported as ``from . import x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {a.asname or a.name for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module
               for a in node.names if a.name in modules}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        chain = _dotted(node)
        if chain and chain[0] in aliases and not node.attr.startswith("__"):
            yield ".".join(chain), node.lineno


def check_package(package: Path, layers: Mapping[str, tuple[str, ...]],
                  order: tuple[str, ...], lazy_allowed: Mapping[tuple[str, str], str]) -> list[str]:
    """Every breach of the three rules in ``package``, one line each (empty: all kept)."""
    rank = {module: order.index(layer) for layer, members in layers.items()
            for module in members}
    files = sorted(package.glob("*.py"))
    modules = {p.stem for p in files}
    problems = [f"{m}: in no layer" for m in sorted(modules - set(rank))]
    lazy_seen = set()
    for path in files:
        me = path.stem
        for edge in edges(path, modules):
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
                     for name, line in sorted(private_attributes(path, modules),
                                              key=lambda hit: hit[1])]
    problems += [f"{a} -> {b}: allowed lazy import no longer exists; drop it from the list"
                 for a, b in sorted(set(lazy_allowed) - lazy_seen)]
    return problems


def test_the_package_keeps_its_layers():
    assert check_package(PACKAGE, LAYERS, LAYER_ORDER, LAZY) == []


def test_every_layer_member_exists():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    listed = [m for members in LAYERS.values() for m in members]
    assert sorted(set(listed) - modules) == []
    assert len(listed) == len(set(listed))  # one layer per module


def _plant(root: Path, files: Mapping[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir()
    for name, source in files.items():
        (package / f"{name}.py").write_text(source, encoding="utf-8")
    return package


PLANTED_LAYERS = {"low": ("config", "__init__"), "high": ("data", "cli")}


def test_a_planted_upward_import_is_reported(tmp_path):
    package = _plant(tmp_path, {
        "__init__": "",
        "cli": "from .config import LIMIT\n",  # downward: fine
        "config": "from .cli import main\nLIMIT = 1\n",  # upward: contracts -> top
        "data": "from .cli import main\n",  # same layer: fine
    })
    assert check_package(package, PLANTED_LAYERS, ("low", "high"), {}) == [
        "config:1: upward import of cli (low -> high)"]


def test_a_planted_private_reach_in_is_reported(tmp_path):
    package = _plant(tmp_path, {
        "__init__": "",
        "config": "_SECRET = 1\n",
        "cli": "from .config import _SECRET\n",
        "data": ("from . import config\n\nVALUE = config._SECRET + config.__name__.count('x')\n"
                 "TABLE = config.Layer._TABLE\n"),
    })
    assert check_package(package, PLANTED_LAYERS, ("low", "high"), {}) == [
        "cli:1: private name config._SECRET", "data:3: private name config._SECRET",
        "data:4: private name config.Layer._TABLE"]


def test_lazy_imports_need_a_listed_reason(tmp_path):
    package = _plant(tmp_path, {
        "__init__": "",
        "config": "",
        "cli": "def main():\n    from . import config\n    return config\n",
        "data": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .cli import main\n"
                 "def load():\n    from .config import LIMIT\n    return LIMIT\n"
                 "if __name__ == '__main__':\n    from .cli import main\n"),
    })
    assert check_package(package, PLANTED_LAYERS, ("low", "high"), {}) == [
        "cli:2: import of config inside a function, with no reason in the allow-list",
        "data:5: import of config inside a function, with no reason in the allow-list"]
    allowed = {("cli", "config"): "why", ("data", "config"): "why", ("data", "cli"): "stale"}
    assert check_package(package, PLANTED_LAYERS, ("low", "high"), allowed) == [
        "data -> cli: allowed lazy import no longer exists; drop it from the list"]
