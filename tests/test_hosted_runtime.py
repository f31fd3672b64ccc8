"""A hosted runtime, simulated: a fresh virtual environment that already holds another
TensorFlow, Keras and NumPy than our lock, as Colab and Kaggle do, runs the notebooks' real
first cell and then the smoke notebooks 01 and 03 on its own kernel.

The first cell acts when it sees a hosted runtime's environment variable. We set Binder's,
because that branch takes the checkout from the working directory (``..`` of ``notebooks/``),
so the checkout can live in a temporary folder; from there on, Colab, Kaggle and Binder run
the same lines: ``pip install --no-deps -e`` and ``hosted.prepare_runtime``.

This test downloads a TensorFlow wheel (pip's cache makes a rerun cheap) and executes two
notebooks, so it is marked ``slow``; ``make test`` runs it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
import pytest
import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "jewelnet-hosted-runtime"
# tensorflow-cpu is the smallest TensorFlow wheel where it exists (Linux x86-64); a runtime
# that ships it instead of "tensorflow" must be recognised as having TensorFlow.
TF_DIST = ("tensorflow-cpu" if sys.platform == "linux" and platform.machine() == "x86_64"
           else "tensorflow")
# The runtime's builds: releases from the low end of pyproject.toml's tested ranges (the
# lowest minor release of each), so the ranges' lower ends are tested here while
# requirements.txt's lock is tested everywhere else.
RUNTIME = {TF_DIST: "2.19.1", "keras": "3.10.0", "numpy": "1.26.4"}
NOTEBOOKS = ("01-*.ipynb", "03-*.ipynb")
pytestmark = pytest.mark.slow


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def _lock() -> dict[str, str]:
    pairs = [line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
             if "==" in line and not line.startswith("#")]
    return {name.lower(): version for name, version in pairs}


def _copy_checkout(target: Path) -> Path:
    """The working tree as a clone would hold it: tracked and untracked, not ignored, files."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _installed(python: Path) -> dict[str, str]:
    """Every distribution in the environment of ``python``, by lower-case dashed name."""
    code = ("import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower()"
            ".replace('_', '-'): d.version for d in m.distributions()}))")
    # Run from the venv's folder: from a checkout, the editable install's egg-info in the
    # working directory would be listed as installed.
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                          env=_without_our_paths(os.environ), cwd=python.parent)
    return json.loads(done.stdout)


def _without_our_paths(env: Mapping[str, str]) -> dict[str, str]:
    """The environment minus what would let the runtime import our venv's or worktree's code."""
    return {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                          capture_output=True, text=True, env=_without_our_paths(os.environ),
                          timeout=1800)
    assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """A venv with the runtime's builds and a registered kernel, and a checkout beside it."""
    base = tmp_path_factory.mktemp("hosted")
    venv = base / "runtime"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    _pip(python, *(f"{name}=={version}" for name, version in RUNTIME.items()), "ipykernel")
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(venv),
                    "--name", KERNEL], check=True, capture_output=True)
    env = _without_our_paths(os.environ) | {
        "BINDER_SERVICE_HOST": "simulated",  # the switch the first cell checks
        "JUPYTER_PATH": str(venv / "share" / "jupyter"),  # where the kernel spec is
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PROFILE": "smoke", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    yield {"python": python, "checkout": _copy_checkout(base / "checkout"), "env": env,
           "before": _installed(python), "out": base}
    shutil.rmtree(venv)  # about 2 GB; the executed notebooks stay for a look after a failure


def _execute(runtime, pattern: str):
    """Run one notebook of the checkout on the runtime's kernel; the executed notebook."""
    notebooks = runtime["checkout"] / "notebooks"
    (source,) = notebooks.glob(pattern)
    executed = runtime["out"] / source.name
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "-k", KERNEL, "--cwd", str(notebooks),
         "--no-progress-bar", "-p", "PROFILE", "smoke", str(source), str(executed)],
        env=runtime["env"], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (f"{source.name} failed on the simulated runtime "
                                  f"(executed copy: {executed}):\n{done.stderr[-4000:]}")
    return nbformat.read(executed, as_version=4)


def _first_cell_output(notebook) -> str:
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and "REPO_URL = " in c.source]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_simulated_runtime_differs_from_our_lock_and_lies_in_the_tested_ranges():
    declared, lock = _declared(), _lock()
    for name, version in RUNTIME.items():
        spec = declared["tensorflow" if name == TF_DIST else name].specifier
        assert spec.contains(version), f"{name} {version} is outside pyproject's {spec}"
        assert lock["tensorflow" if name == TF_DIST else name] != version


def test_the_first_cell_installs_what_is_missing_and_keeps_the_runtime(runtime):
    assert {n: runtime["before"].get(n) for n in RUNTIME} == RUNTIME
    assert "jewelnet-utils" not in runtime["before"]

    output = _first_cell_output(_execute(runtime, NOTEBOOKS[0]))

    after = _installed(runtime["python"])
    assert {n: after.get(n) for n in RUNTIME} == RUNTIME, "the install step replaced a build"
    if TF_DIST != "tensorflow":
        assert "tensorflow" not in after, "a second TensorFlow was installed over tensorflow-cpu"
    assert "jewelnet-utils" in after
    missing = sorted(name for name in _declared() if name != "tensorflow" and name not in after)
    assert not missing, f"declared but still missing after the first cell: {missing}"
    # Printed by the kernel's own process: it ran on the runtime's builds, not on ours.
    assert f"tensorflow {RUNTIME[TF_DIST]}: within the tested range" in output, output
    assert f"keras {RUNTIME['keras']}: within the tested range" in output, output
    assert "Installed: " in output and "Installed: nothing missing" not in output, output


def test_the_training_notebook_runs_on_the_runtime(runtime):
    output = _first_cell_output(_execute(runtime, NOTEBOOKS[1]))
    assert f"tensorflow {RUNTIME[TF_DIST]}: within the tested range" in output, output
    # Whatever runs the notebook wrote (its content is free to change) record the runtime's
    # builds: the training happened on them.
    for config in (runtime["checkout"] / "artifacts").glob("*/config.json"):
        versions = json.loads(config.read_text())["library_versions"]
        assert versions.get(TF_DIST) == RUNTIME[TF_DIST], f"{config}: {versions}"
        assert versions["keras"] == RUNTIME["keras"] and versions["numpy"] == RUNTIME["numpy"]
