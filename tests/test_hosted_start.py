"""A safe hosted start: the notebooks' first cell is one short, generated cell that installs the
package without touching the runtime's TensorFlow, Keras or NumPy; pyproject.toml declares
tested ranges while requirements.txt keeps the lock; each notebook page links to Kaggle."""

from __future__ import annotations

import ast
import builtins
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import tomllib

from jewelnet_utils import hosted

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _load(ROOT / "scripts" / "sync_notebook_start.py", "sync_notebook_start")
kaggle = _load(ROOT / "book" / "_ext" / "kaggle_launch.py", "kaggle_launch")


def _start_cell(path: Path) -> str:
    cells = [c for c in jupytext.read(path).cells
             if c.cell_type == "code" and "REPO_URL = " in c.source]
    assert len(cells) == 1, path.name
    return cells[0].source


def _bound(source: str) -> set[str]:
    """Names a cell defines: imports, assignments, functions and classes."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _read(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_parameters_cell_needs_nothing_from_the_hidden_first_cell(path):
    """The hidden hosted cell imports ``os`` for its own use; a reader who skips it, or a
    generator that shrinks it, must not break the parameters cell. So every name that cell
    reads comes from a visible code cell between the two (the Imports cell)."""
    code = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    start = next(i for i, c in enumerate(code) if "REPO_URL = " in c.source)
    params = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    assert start < params, path.name
    visible = set().union(*(_bound(c.source) for c in code[start + 1:params]))
    needed = _read(code[params].source) - _bound(code[params].source) - set(dir(builtins))
    hidden_only = sorted(needed - visible)
    assert not hidden_only, (f"{path.name}: the parameters cell reads {hidden_only}, which no "
                             "visible cell before it defines (only the hidden first cell does)")


def _declared() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_starts_with_the_one_generated_cell(path):
    source = _start_cell(path)
    assert source.strip() == sync.start_cell().strip()  # the 11 copies are generated, not typed
    code = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    assert len(code) <= 18
    pip = [line for line in source.splitlines() if '"pip", "install"' in line]
    assert pip and all('"--no-deps"' in line for line in pip)


def test_the_sync_script_finds_no_drift():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebook_start.py"),
                           "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_pyproject_declares_ranges_and_requirements_keep_the_lock():
    declared = {hosted._name(r): r for r in _declared()}
    lock = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$",
                           (ROOT / "requirements.txt").read_text(), re.M))
    from packaging.requirements import Requirement

    for name in hosted.PROTECTED:
        spec = Requirement(declared[name]).specifier
        assert "==" not in str(spec) and ">=" in str(spec) and "<" in str(spec), declared[name]
        assert spec.contains(lock[name]), f"the lock's {name} {lock[name]} is outside {spec}"


def _versions(**present: str):
    return lambda name: present.get(hosted._canonical(name).replace("-", "_"),
                                    present.get(name))


def test_only_missing_packages_are_installed_and_the_runtime_is_pinned(monkeypatch):
    runtime = _versions(tensorflow="2.18.1", keras="3.8.0", numpy="1.26.4", pandas="2.2.2",
                        pillow="11.0", matplotlib="3.9", scikit_learn="1.5", seaborn="0.13",
                        tqdm="4.66", psutil="5.9", packaging="24.1")
    monkeypatch.setattr(hosted, "installed_version", runtime)
    seen: dict[str, object] = {}

    def fake_pip(command, check):
        seen["command"] = command
        constraints = command[command.index("-c") + 1]
        seen["pins"] = Path(constraints).read_text().split()
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(hosted.subprocess, "run", fake_pip)
    added = hosted.install_missing(_declared())
    names = {hosted._name(r) for r in added}
    assert names == {"keras-tuner", "imagehash", "faiss-cpu"}
    assert not names & set(hosted.PROTECTED)
    assert seen["pins"] == ["tensorflow==2.18.1", "keras==3.8.0", "numpy==1.26.4"]
    assert seen["command"][-len(added):] == added


def test_a_runtime_with_tensorflow_cpu_has_tensorflow(monkeypatch):
    """tensorflow-cpu provides the ``tensorflow`` module: it must count as installed, or pip
    would put a second TensorFlow over the runtime's."""
    dists = {"tensorflow-cpu": "2.19.1", "keras": "3.10.0"}

    def version(name):
        if name not in dists:
            raise hosted.metadata.PackageNotFoundError(name)
        return dists[name]

    monkeypatch.setattr(hosted.metadata, "version", version)
    monkeypatch.setattr(hosted.metadata, "packages_distributions",
                        lambda: {"tensorflow": ["tensorflow-cpu"], "keras": ["keras"]})
    assert hosted.installed_version("tensorflow") == "2.19.1"
    assert hosted.installed_version("faiss-cpu") is None
    assert hosted.missing_requirements(["tensorflow>=2.19", "keras", "faiss-cpu"]) == ["faiss-cpu"]
    assert hosted.protected_constraints() == ["tensorflow==2.19.1", "keras==3.10.0"]


def test_versions_outside_the_tested_range_are_reported_not_replaced():
    lines = hosted.version_report(_declared(), _versions(tensorflow="2.15.0", keras="3.10.0"))
    assert lines[0].startswith("tensorflow 2.15.0: OUTSIDE the tested range")
    assert lines[1].startswith("keras 3.10.0: within the tested range")
    assert lines[2].startswith("numpy: not installed")


def test_the_cell_on_a_simulated_kaggle_runtime(tmp_path, monkeypatch, capsys):
    """Run the generated cell as Kaggle would: the checkout is there, so no clone; the package
    goes in with --no-deps, the runtime's versions are reported and the GPU line printed."""
    checkout = tmp_path / "kaggle" / "working" / "jewelnet-book"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    source = sync.start_cell().replace('"/kaggle/working"', repr(str(tmp_path / "kaggle" /
                                                                  "working")))
    commands: list[list[str]] = []

    def fake_run(command, check=False, **kwargs):
        commands.append([str(c) for c in command])
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")

    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(hosted, "installed_version", lambda name: "1.0")  # nothing missing
    monkeypatch.setattr(hosted.shutil, "which", lambda name: None)  # no GPU
    monkeypatch.chdir(tmp_path)
    saved_path = list(sys.path)
    try:
        exec(compile(source, "start-cell", "exec"), {})  # noqa: S102
    finally:
        sys.path[:] = saved_path
    assert commands == [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e",
                         str(checkout)]]
    out = capsys.readouterr().out
    assert "Installed: nothing missing" in out and "No GPU attached" in out
    assert "tensorflow 1.0: OUTSIDE the tested range" in out
    assert Path.cwd() == checkout / "notebooks"


def test_the_repository_url_is_written_in_one_place():
    """_config.yml holds the URL. The notebooks' first cells are generated from it (the sync
    test above) and CITATION.cff is checked against it (tests/test_references.py); no other
    file of the checkout spells it out, so changing it is one edit and one sync."""
    address = sync.repository_url().split("://", 1)[1]
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    holders = {name for name in listed if name and (ROOT / name).is_file()
               and address in (ROOT / name).read_text(encoding="utf-8", errors="ignore")}
    generated = {p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("[0-9]*-*.*")}
    assert "_config.yml" in holders
    assert holders - generated <= {"_config.yml", "CITATION.cff"}, sorted(holders - generated)


def test_kaggle_link_is_derived_from_colab_link():
    colab = ("https://colab.research.google.com/github/jewelnet/jewelnet-book/blob/main/"
             "notebooks/03-custom-cnn.ipynb")
    context = {"header_buttons": [{"label": "launch-buttons", "buttons": [
        {"type": "link", "text": "Binder", "url": "https://mybinder.org/x"},
        {"type": "link", "text": "Colab", "url": colab}]}]}
    kaggle.add_kaggle_button(None, "notebooks/03-custom-cnn", "page.html", context, None)
    buttons = context["header_buttons"][0]["buttons"]
    assert [b["text"] for b in buttons] == ["Binder", "Colab", "Kaggle"]
    assert buttons[2]["url"] == ("https://kaggle.com/kernels/welcome?src=https://github.com/"
                                 "jewelnet/jewelnet-book/blob/main/notebooks/03-custom-cnn.ipynb")
    kaggle.add_kaggle_button(None, "x", "page.html", context, None)  # idempotent
    assert len(buttons) == 3


BOOK = ROOT / "_build" / "smoke" / "html"


@pytest.mark.skipif(not (BOOK / "notebooks").is_dir(), reason="smoke book not built")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_built_notebook_pages_link_to_kaggle_beside_colab(path):
    html = (BOOK / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
    colab = html.index("colab.research.google.com/github/")
    target = "kaggle.com/kernels/welcome?src=https://github.com/"
    assert target in html and html.index(target) > colab
    assert f"notebooks/{path.stem}.ipynb" in html[html.index(target):]


def test_a_dependency_that_needs_another_numpy_fails_in_one_clear_line(monkeypatch):
    from jewelnet_utils.contracts.config import JewelNetError

    monkeypatch.setattr(hosted, "installed_version",
                        _versions(tensorflow="2.19.0", keras="3.10.0", numpy="1.26.4"))

    def pip_refuses(command, check):
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(hosted.subprocess, "run", pip_refuses)
    with pytest.raises(JewelNetError, match="next to this runtime's tensorflow==2.19.0"):
        hosted.install_missing(["faiss-cpu"])
