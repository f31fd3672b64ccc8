"""Printing and exit codes belong to the top layer: the command line (``cli/``) and the
notebooks' handles (``book``, ``hosted``). A module below returns data, or text from a public
``format_*`` function, and lets its caller show it. Checked on the source (AST).

Rules for every module below the top layer:
1. ``print`` only inside a function listed in ``PRINTS`` with its reason (a stale entry fails
   too, so the list stays true);
2. no ``sys.exit`` / ``raise SystemExit`` outside an ``if __name__ == "__main__":`` launcher.

Like the layering test, the checker is first run on a small planted package, so each rule is
seen to fail.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from test_layers import LAYER_ORDER, PACKAGE, layer_of, module_names, plant

PROGRESS = "progress of a step that runs for minutes, shown while it runs (like a tqdm bar)"
# (module or package, function as Class.method) -> why it prints. A package entry covers the
# modules inside it.
PRINTS: dict[tuple[str, str], str] = {
    ("run.train", "_Trainer.log"): PROGRESS,
    ("run.pretrain", "pretrain"): PROGRESS,
    ("tools.bench", "run"): PROGRESS + "; notebook 12 shows the same lines as the command",
    ("tools.bench", "_child_main"): "the measuring child process answers its parent in one "
                                    "JSON line on stdout",
    ("contracts.records", "load_record"): "the book's one-line refusal of a record without "
                                          "provenance, shown in the cell that wanted it",
}


def _is_main_guard(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def _exits(node: ast.AST) -> bool:
    """``sys.exit(...)``, ``exit(...)`` or ``raise SystemExit``."""
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "SystemExit"
    if isinstance(node, ast.Call):
        func = node.func
        return ((isinstance(func, ast.Attribute) and func.attr == "exit"
                 and isinstance(func.value, ast.Name) and func.value.id == "sys")
                or (isinstance(func, ast.Name) and func.id == "exit"))
    return False


def outputs(path: Path) -> Iterator[tuple[str, str, int]]:
    """("print" or "exit", the enclosing function as Class.method, line) for one module;
    launchers under ``if __name__ == "__main__":`` are skipped."""

    def visit(node: ast.AST, owner: str) -> Iterator[tuple[str, str, int]]:
        if _is_main_guard(node):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owner = f"{owner}.{node.name}" if owner else node.name
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "print"):
            yield "print", owner, node.lineno
        elif _exits(node):
            yield "exit", owner, node.lineno
        for child in ast.iter_child_nodes(node):
            yield from visit(child, owner)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), "")


def _listed(module: str, function: str, allowed: Mapping[tuple[str, str], str]
            ) -> tuple[str, str] | None:
    for where, name in allowed:
        if name == function and (module == where or module.startswith(where + ".")):
            return where, name
    return None


def check_outputs(package: Path, allowed: Mapping[tuple[str, str], str],
                  below_top: Callable[[str], bool]) -> list[str]:
    """Every breach of the two rules in ``package``, one line each (empty: all kept)."""
    problems, used = [], set()
    for module, path in module_names(package).items():
        if not below_top(module):
            continue
        for kind, function, line in outputs(path):
            where = f"{module}:{line}"
            if kind == "exit":
                problems.append(f"{where}: exits the process; return an exit code to cli/")
            elif (entry := _listed(module, function, allowed)) is None:
                problems.append(f"{where}: prints in {function or 'module code'}, "
                                "with no reason in the allow-list")
            else:
                used.add(entry)
    problems += [f"{a}: {b}: allowed print no longer exists; drop it from the list"
                 for a, b in sorted(set(allowed) - used)]
    return problems


def _below_top(module: str) -> bool:
    return layer_of(module) != LAYER_ORDER[-1]


def test_only_the_top_layer_prints_or_exits():
    assert check_outputs(PACKAGE, PRINTS, _below_top) == []


def test_the_command_line_is_a_top_layer_package():
    assert not _below_top("cli") and not _below_top("cli.report")
    assert _below_top("report.recommend") and _below_top("tools.preflight")


def test_planted_prints_and_exits_are_reported(tmp_path):
    package = plant(tmp_path, {
        "__init__": "",
        "low/__init__": "",
        "low/data": ("import sys\n"
                     "def load():\n    print('loaded')\n"
                     "class Job:\n    def run(self):\n        print('ran')\n"
                     "def stop():\n    sys.exit(2)\n"
                     "def halt():\n    raise SystemExit(1)\n"
                     "if __name__ == '__main__':\n    print('launcher')\n    sys.exit(0)\n"),
        "top/__init__": "",
        "top/cli": "import sys\ndef main():\n    print('fine')\n    sys.exit(0)\n",
    })

    def low(module: str) -> bool:
        return module.startswith("low")

    assert check_outputs(package, {}, low) == [
        "low.data:3: prints in load, with no reason in the allow-list",
        "low.data:6: prints in Job.run, with no reason in the allow-list",
        "low.data:8: exits the process; return an exit code to cli/",
        "low.data:10: exits the process; return an exit code to cli/"]
    allowed = {("low.data", "load"): "why", ("low", "Job.run"): "why (a package covers its "
               "modules)", ("low.data", "gone"): "stale"}
    assert check_outputs(package, allowed, low) == [
        "low.data:8: exits the process; return an exit code to cli/",
        "low.data:10: exits the process; return an exit code to cli/",
        "low.data: gone: allowed print no longer exists; drop it from the list"]
