"""The notebooks' structure: paired scripts in sync, one parameters cell, the common skeleton,
parameter validation, and agreement with the book's table of contents and configuration."""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

import jupytext
import papermill
import pytest
import yaml

from jewelnet_utils.book import (
    ParameterError,
    check_choice,
    check_params,
    find_repo_root,
    hyperparameter_table,
)
from jewelnet_utils.contracts.config import JewelNetError

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]-*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
PARAMETERS = ("PROFILE", "DATA_DIR", "WEIGHTS", "SEED", "ARTIFACTS")
# Headings every notebook has, in this order (Project Pythia style).
SKELETON = ("Overview", "Prerequisites", "Running on Colab or Kaggle", "Imports", "Parameters",
            "Summary", "What's next", "Resources and references")


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def _headings(nb) -> list[tuple[int, str]]:
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            out += [(i, m.group(1).strip()) for m in re.finditer(r"^##\s+(.+)$", cell.source, re.M)]
    return out


def _parameter_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return files


def test_there_are_twelve_numbered_notebooks():
    assert len(NOTEBOOKS) == 12, IDS
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 13)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_paired_script_is_in_sync(path):
    script = path.with_suffix(".py")
    assert script.is_file(), f"{script.name} is missing; run jupytext --sync {path}"
    from_ipynb = jupytext.read(path)
    from_py = jupytext.read(script)
    assert _cells(from_ipynb) == _cells(from_py), (
        f"{path.name} and {script.name} differ; run: .venv/bin/jupytext --sync {path}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} holds outputs; commit it clean"
            assert cell.get("execution_count") is None
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exactly_one_parameters_cell_with_the_five_parameters(path):
    nb = jupytext.read(path)
    tagged = _parameter_cells(nb)
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    cell = nb.cells[tagged[0]]
    assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    assert assigned[:5] == list(PARAMETERS), assigned
    # Defaults: the profile comes from $PROFILE (else cpu), the rest as documented.
    env = {"os": os}
    saved = os.environ.pop("PROFILE", None)
    try:
        exec(compile(cell.source, "parameters", "exec"), env)  # noqa: S102
    finally:
        if saved is not None:
            os.environ["PROFILE"] = saved
    assert (env["PROFILE"], env["DATA_DIR"], env["WEIGHTS"], env["SEED"], env["ARTIFACTS"]) == (
        "cpu", None, "profile", 42, "artifacts")
    # The next code cell validates them before anything else happens.
    following = next(c for c in nb.cells[tagged[0] + 1:] if c.cell_type == "code")
    assert following.source.startswith("P = check_params("), path.name
    assert all(f"{p}={p}" in following.source for p in PARAMETERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_skeleton_headings_in_order(path):
    nb = jupytext.read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), path.name
    headings = _headings(nb)
    found = {title: i for i, title in reversed(headings)}
    missing = [h for h in SKELETON if h not in found]
    assert not missing, f"{path.name} lacks headings {missing}"
    order = [found[h] for h in SKELETON]
    assert order == sorted(order), f"{path.name}: skeleton headings out of order"
    assert found["Parameters"] < _parameter_cells(nb)[0] < found["Summary"]
    titles = [t for _, t in headings]
    assert titles[-3:] == ["Summary", "What's next", "Resources and references"], titles[-3:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_colab_cell_clones_the_configured_repository(path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    nb = jupytext.read(path)
    setup = [c for c in nb.cells if c.cell_type == "code" and "REPO_URL" in c.source]
    assert len(setup) == 1, path.name
    assert f'REPO_URL = "{url}"' in setup[0].source
    assert '"google.colab" in sys.modules' in setup[0].source  # inert on a local checkout
    imports = next(i for i, t in _headings(nb) if t == "Imports")
    assert nb.cells.index(setup[0]) < imports


# Pages that state their provenance once, under the parameters, instead of under each output
# (the evaluation page shows too many outputs for one line each to stay readable); their
# figures carry the provenance in a footer drawn by plots.py. The evaluation page's balanced
# experiment uses other images, so it states its own line once, too.
ONE_PROVENANCE_LINE = {"08-evaluation"}
EXPERIMENT_PROVENANCE = "B.provenance()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_table_and_figure_names_its_source(path):
    """A code cell that shows a table or a figure also prints where it came from, unless the
    page states its provenance once, right after its parameters."""
    nb = jupytext.read(path)
    first = next(c for c in nb.cells if c.cell_type == "code"
                 and c.source.startswith("P = check_params("))
    assert "print(P.provenance())" in first.source, path.name
    if path.stem in ONE_PROVENANCE_LINE:
        later = "\n".join(c.source for c in nb.cells[nb.cells.index(first) + 1:]
                          if c.cell_type == "code")
        assert later.count(EXPERIMENT_PROVENANCE) <= 1
        assert "provenance(" not in later.replace(EXPERIMENT_PROVENANCE, "")
        return
    for cell in nb.cells:
        if cell.cell_type != "code" or "def verdicts" in cell.source:
            continue
        if re.search(r"\b(display|show_figure|show_image|show_table|verdicts)\(", cell.source):
            assert re.search(r"provenance\(|verdicts\(|Source:|Generated from", cell.source), (
                f"{path.name}: a cell shows output without a provenance line:\n{cell.source}"
            )


def test_toc_lists_every_notebook_and_chapter():
    files = _toc_files()
    listed = sorted(f.split("/", 1)[1] for f in files if f.startswith("notebooks/"))
    assert listed == IDS
    for f in files:
        if f.startswith("book/"):
            assert (ROOT / f"{f}.md").is_file(), f"{f}.md missing"


def test_jupytext_pairing_config():
    text = (NB_DIR / "jupytext.toml").read_text(encoding="utf-8")
    assert re.search(r'^formats\s*=\s*"ipynb,py:percent"', text, re.M)


# ---- parameter validation -------------------------------------------------------------------

GOOD = dict(PROFILE="smoke", DATA_DIR=None, WEIGHTS="profile", SEED=7, ARTIFACTS="artifacts")


def test_check_params_resolves_paths_from_any_working_directory(monkeypatch):
    monkeypatch.chdir(NB_DIR)
    assert find_repo_root() == ROOT
    p = check_params(**GOOD)
    assert p.root == ROOT and p.artifacts == ROOT / "artifacts"
    assert p.reports == ROOT / "reports" / "smoke"
    assert p.run_dir("vgg16") == ROOT / "artifacts" / "vgg16-smoke-s7"
    assert p.weights is None and p.synthetic
    monkeypatch.chdir(ROOT)
    assert check_params(**GOOD).artifacts == p.artifacts


def test_check_params_weights_and_custom_folders(tmp_path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"")
    (tmp_path / "photos").mkdir()
    p = check_params(**{**GOOD, "WEIGHTS": str(weights), "DATA_DIR": tmp_path / "photos",
                        "ARTIFACTS": str(tmp_path / "runs")})
    assert p.weights == str(weights) and not p.synthetic
    assert p.reports == tmp_path / "runs" / "reports" / "smoke"
    assert check_params(**{**GOOD, "PROFILE": "paper"}).weights == "imagenet"
    assert check_params(**{**GOOD, "WEIGHTS": "none"}).weights is None
    assert "profile=smoke" in check_params(**GOOD).provenance("x")


@pytest.mark.parametrize("override, name", [
    ({"SEED": "abc"}, "SEED"),
    ({"SEED": True}, "SEED"),
    ({"SEED": -1}, "SEED"),
    ({"PROFILE": "fast"}, "PROFILE"),
    ({"PROFILE": 3}, "PROFILE"),
    ({"DATA_DIR": "no/such/folder"}, "DATA_DIR"),
    ({"DATA_DIR": 5}, "DATA_DIR"),
    ({"WEIGHTS": "no/such/file.h5"}, "WEIGHTS"),
    ({"WEIGHTS": 1.5}, "WEIGHTS"),
    ({"ARTIFACTS": ""}, "ARTIFACTS"),
])
def test_bad_parameters_fail_with_one_line_naming_them(override, name):
    with pytest.raises(ParameterError) as info:
        check_params(**{**GOOD, **override})
    message = str(info.value)
    assert message.startswith(name) or f"{name}=" in message
    assert "\n" not in message
    assert isinstance(info.value, JewelNetError)
    assert info.value._render_traceback_() == [f"ParameterError: {message}"]


@pytest.mark.parametrize("value", ["fast", "", None, 1, ["quick"]])
def test_a_choice_parameter_names_itself_its_choices_and_the_bad_value(value):
    with pytest.raises(ParameterError) as info:
        check_choice("BENCH", value, ("quick", "full", "none"))
    message = str(info.value)
    assert message.startswith("BENCH must be one of 'quick', 'full', 'none'; got ")
    assert repr(value) in message and "\n" not in message
    assert check_choice("BENCH", "full", ("quick", "full", "none")) == "full"


def test_hyperparameter_table_covers_every_profile():
    for name in ("smoke", "cpu", "paper"):
        table = hyperparameter_table(name)
        assert list(table.columns) == ["Custom CNN", "VGG16", "ResNet50", "EfficientNetB2"]
        assert table.loc["learning rate"].nunique() == 1
    assert hyperparameter_table("paper").loc["input size (px)", "EfficientNetB2"] == "260×260"
    per_model = hyperparameter_table("paper", "per-model")
    shared = hyperparameter_table("paper", "shared")
    assert len(per_model) + len(shared) == len(hyperparameter_table("paper"))
    assert "input size (px)" in per_model.index and "batch size" in shared.index


@pytest.mark.slow
def test_papermill_reports_a_mistyped_parameter_in_one_line(tmp_path, monkeypatch):
    """Runs the fastest notebook (the appendix) with SEED='abc' through papermill."""
    # The kernel is this interpreter's python3 (jupyter_client maps "python" to sys.executable).
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep
                       + os.environ.get("PATH", ""))
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(NB_DIR / "11-appendix-hyperparameters.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={"SEED": "abc"}, kernel_name="python3", cwd=str(NB_DIR),
            progress_bar=False,
        )
    err = info.value
    assert err.ename == "ParameterError"
    assert err.evalue.startswith("SEED must be a whole number")
    assert err.traceback == [f"ParameterError: {err.evalue}"]


def test_the_random_init_baseline_keeps_its_own_runs(tmp_path):
    p = check_params(**{**GOOD, "WEIGHTS": "pretext", "ARTIFACTS": str(tmp_path / "runs")})
    base = p.random_init()
    assert base.weights is None and "random initialisation" in base.provenance()
    assert base.run_dir("vgg16") == tmp_path / "runs" / "random-init" / "vgg16-smoke-s7"
    assert base.for_experiment("balanced").artifacts == tmp_path / "runs" / "random-init" / (
        "balanced")
    with pytest.raises(ParameterError, match="already start from random initialisation"):
        base.random_init()


def test_the_balanced_experiment_keeps_its_own_data_runs_and_reports(tmp_path):
    p = check_params(**{**GOOD, "ARTIFACTS": str(tmp_path / "runs")})
    b = p.for_experiment("balanced")
    assert b.run_dir("vgg16") == tmp_path / "runs" / "balanced" / "vgg16-smoke-s7"
    assert b.reports == p.reports / "balanced" and b.split_path().parent.parent == b.artifacts
    assert "jewelsynth-smoke-balanced" in b.dataset_label()
    assert "experiment=balanced" in b.provenance() and "experiment" not in p.provenance()
    assert b.for_experiment("balanced") is b and p.for_experiment("imbalanced") is p
    (tmp_path / "photos").mkdir()
    photos = check_params(**{**GOOD, "DATA_DIR": tmp_path / "photos"})
    with pytest.raises(ParameterError, match="DATA_DIR=.*only that folder's own experiment"):
        photos.for_experiment("balanced")
