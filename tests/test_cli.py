"""The command line's own contracts: its handler modules load without Keras, and
``python -m jewelnet_utils.cli`` is the ``jewelnet`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jewelnet_utils import cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("keras", "tensorflow", "keras_tuner")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *(("-c", code) if code else ()), *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_handler_modules_load_without_keras():
    """--help, audit, split, protocol and preflight never pay Keras's seconds of start-up:
    the handlers that need it import it when they run (the LAZY list of test_layers)."""
    modules = sorted({module for _help, _build, module, _func in cli.COMMANDS.values()
                      if module.startswith("cli.")})
    assert modules == ["cli.images", "cli.report", "cli.run", "cli.tools"]
    imports = "; ".join(f"import jewelnet_utils.{m}" for m in modules)
    done = _python(f"import sys; {imports}; "
                   f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_python_dash_m_is_the_jewelnet_command(tmp_path):
    """Its output, and a failure as one line with exit 2 (a page under a file cannot be
    written)."""
    page = tmp_path / "page.md"
    done = _python("", "-m", "jewelnet_utils.cli", "protocol", "--write", str(page))
    assert (done.returncode, done.stdout, done.stderr) == (0, f"wrote {page}\n", "")
    blocked = page / "page.md"
    done = _python("", "-m", "jewelnet_utils.cli", "protocol", "--write", str(blocked))
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"jewelnet protocol: error: cannot write {blocked}: ")
