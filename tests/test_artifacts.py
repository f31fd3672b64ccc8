"""The artifact formats (contracts/artifacts.py): each writer's file reads back as written, a
wrong file is one line naming it, and nothing else in the project opens these files by name."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from jewelnet_utils.contracts import artifacts
from jewelnet_utils.contracts.config import JewelNetError

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["bangle", "bracelet", "ring"]

CONFIG = {"model": "custom_cnn", "profile": {"name": "smoke", "batch_size": 8}, "seed": 3,
          "weights": "none", "classes": CLASSES, "input_size": 32, "data_dir": "data/x",
          "data_hash": "f" * 64, "library_versions": {"keras": "3.0"}, "status": "complete",
          "num_train": 9, "num_val": 3, "hparams": {}}
TIMINGS = artifacts.Timings(
    feature_cache_s=1.5, stage1_s=10.25, stage2_s=20.0, train_s=31.75, checkpoint_s=0.5,
    wall_s_this_session=40.0, epochs={"stage1": 3, "stage2": 2},
    stopped_early={"stage1": False, "stage2": True}, cpu_s={"stage1": 9.0, "stage2": 18.5},
    images_per_s={"stage1": 2.6}, cache_views=2, num_train=9)


def _one_line(err: pytest.ExceptionInfo, path: Path) -> None:
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message


# --------------------------------------------------------------------------- round trips

def test_run_config_round_trip(tmp_path: Path) -> None:
    artifacts.write_config(tmp_path, CONFIG)
    assert json.loads(artifacts.config_file(tmp_path).read_text())["format"] == \
        artifacts.RUN_FORMAT
    cfg = artifacts.read_config(tmp_path)
    assert (cfg.model, cfg.profile_name, cfg.seed, cfg.weights, cfg.classes, cfg.input_size,
            cfg.data_dir, cfg.data_hash, cfg.status) == (
        "custom_cnn", "smoke", 3, "none", CLASSES, 32, "data/x", "f" * 64, "complete")
    assert cfg.complete and cfg.count("train") == 9 and cfg.count("test") is None
    assert cfg.fields == CONFIG  # everything train.py recorded, without the format stamp


def test_metrics_and_timings_round_trip(tmp_path: Path) -> None:
    metrics = artifacts.Metrics(best_epoch=4, best_stage=2, val_accuracy=0.5, num_val=3)
    artifacts.write_metrics(tmp_path, metrics)
    # A split without images is left out of the file, not written as null.
    assert list(json.loads(artifacts.metrics_file(tmp_path).read_text())) == [
        "best_epoch", "best_stage", "val_accuracy", "num_val"]
    assert artifacts.read_metrics(tmp_path) == metrics
    assert artifacts.is_finished(tmp_path)
    artifacts.write_timings(tmp_path, TIMINGS)
    assert artifacts.read_timings(tmp_path) == TIMINGS
    assert artifacts.read_timings(tmp_path).stage_seconds("stage2") == 20.0


def test_history_and_predictions_round_trip(tmp_path: Path) -> None:
    rows = [{"epoch": 1, "stage": 1, "loss": 1.25, "accuracy": 0.5, "val_loss": 1.5,
             "val_accuracy": 0.25, "learning_rate": 1e-4}]
    artifacts.write_history(tmp_path, rows)
    history = artifacts.read_history(tmp_path)
    assert list(history.columns) == list(artifacts.HISTORY_COLUMNS)
    assert history.iloc[0].to_dict() == pytest.approx(rows[0])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    artifacts.write_predictions(tmp_path, "test", ["bangle/a.png", "ring/b.png"], [0, 1],
                                probs, CLASSES)
    table = artifacts.read_predictions(tmp_path, "test", CLASSES)
    assert table["label"].tolist() == [0, 1] and table["pred"].tolist() == [0, 2]
    np.testing.assert_allclose(table[[f"prob_{c}" for c in CLASSES]].to_numpy(), probs)
    # On disk the classes are named, so the file reads without the run's class list.
    assert artifacts.predictions_file(tmp_path, "test").read_text().splitlines()[2].startswith(
        "ring/b.png,bracelet,ring,")


def test_tuning_result_round_trip(tmp_path: Path) -> None:
    record = {"model": "vgg16", "profile": "smoke", "hparams": {"dense1": 64}, "trials": 4}
    path = artifacts.write_tuning_result(tmp_path, record)
    assert path == tmp_path / "best.json"
    best = artifacts.read_tuning_result(tmp_path)  # the folder or the file itself
    assert artifacts.read_tuning_result(path) == best
    assert (best.model, best.hparams, best.fields) == ("vgg16", {"dense1": 64}, record)


def test_split_manifest_round_trip(tmp_path: Path) -> None:
    manifest = artifacts.SplitManifest(
        data_dir="data/x", seed=7, classes=["bangle", "ring"], ratios=[0.5, 0.25, 0.25],
        hash_threshold=4,
        files=[{"path": "bangle/1.png", "class": "bangle", "split": "train", "sha256": "a"}],
        skipped=[{"path": "ring/bad.png", "reason": "not an image"}])
    path = artifacts.write_split_manifest(tmp_path / "split.json", manifest)
    assert artifacts.read_split_manifest(path) == manifest
    assert list(json.loads(path.read_text())) == [
        "version", "data_dir", "seed", "ratios", "hash_threshold", "classes", "files", "skipped"]


# --------------------------------------------------------------------------- wrong files

def test_a_config_from_before_the_format_field_is_read_as_version_0(tmp_path: Path) -> None:
    artifacts.config_file(tmp_path).write_text(json.dumps(CONFIG))  # no "format" key
    assert artifacts.read_config(tmp_path).fields == CONFIG


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(format=2), "run format 2; this version reads 1: retrain"),
    (lambda c: c.pop("data_hash"), "lacks the field 'data_hash'"),
    (lambda c: c.update(profile="smoke"), "field 'profile' holds 'smoke'"),
    (lambda c: c.update(profile={"batch_size": 8}), "lacks the field 'name'"),
    (lambda c: c.update(seed=True), "field 'seed' holds True"),
])
def test_a_wrong_config_is_one_line_naming_it(tmp_path: Path, change, words: str) -> None:
    cfg = {"format": 1, **CONFIG}
    change(cfg)
    artifacts.config_file(tmp_path).write_text(json.dumps(cfg))
    with pytest.raises(JewelNetError, match=words) as err:
        artifacts.read_config(tmp_path)
    _one_line(err, artifacts.config_file(tmp_path))


def test_missing_or_wrong_run_files_are_one_line_naming_them(tmp_path: Path) -> None:
    with pytest.raises(JewelNetError, match="is not a run folder") as err:
        artifacts.read_config(tmp_path)
    _one_line(err, artifacts.config_file(tmp_path))
    timings = dataclasses.asdict(TIMINGS)
    del timings["train_s"]  # the one key a reader of the training time needs
    artifacts.timings_file(tmp_path).write_text(json.dumps({**timings, "total": 31.75}))
    with pytest.raises(JewelNetError, match="lacks the field 'train_s'") as err:
        artifacts.read_timings(tmp_path)
    _one_line(err, artifacts.timings_file(tmp_path))
    artifacts.metrics_file(tmp_path).write_text('{"val_accuracy": 0.5}')
    with pytest.raises(JewelNetError, match="lacks the field 'best_epoch'") as err:
        artifacts.read_metrics(tmp_path)
    _one_line(err, artifacts.metrics_file(tmp_path))
    with pytest.raises(JewelNetError, match="is missing") as err:
        artifacts.read_history(tmp_path)
    _one_line(err, artifacts.history_file(tmp_path))
    artifacts.write_predictions(tmp_path, "val", ["a.png"], [0], np.eye(3)[:1], CLASSES)
    with pytest.raises(JewelNetError, match="lacks prediction column") as err:
        artifacts.read_predictions(tmp_path, "val", [*CLASSES, "chain"])
    _one_line(err, artifacts.predictions_file(tmp_path, "val"))
    path = artifacts.predictions_file(tmp_path, "val")
    path.write_text(path.read_text().replace("a.png,bangle,", "a.png,tiara,"))
    with pytest.raises(JewelNetError, match="unknown class 'tiara' in column label") as err:
        artifacts.read_predictions(tmp_path, "val", CLASSES)
    _one_line(err, path)


def test_wrong_best_json_and_manifest_are_one_line_naming_them(tmp_path: Path) -> None:
    best = tmp_path / "best.json"
    best.write_text('{"model": "vgg16", "hparams": {}, "format": 9}')
    with pytest.raises(JewelNetError, match="tuning format 9") as err:
        artifacts.read_tuning_result(best)
    _one_line(err, best)
    best.write_text('{"val_accuracy": 1}')
    with pytest.raises(JewelNetError, match="not a best.json") as err:
        artifacts.read_tuning_result(tmp_path)
    _one_line(err, best)
    split = tmp_path / "split.json"
    split.write_text('{"version": 2, "data_dir": "d", "seed": 1, "classes": ["a"], "files": []}')
    with pytest.raises(JewelNetError, match="version 2") as err:
        artifacts.read_split_manifest(split)
    _one_line(err, split)


# --------------------------------------------------------------------------- one reader each

FILE_NAMES = ("config.json", "metrics.json", "timings.json", "best.json", "history.csv")


def file_name_uses(source: str) -> list[int]:
    """Lines of ``source`` whose code names a run-folder or tuning file: a string that is
    the file name, or a string (or f-string part) starting ``predictions_``. Docstrings and
    messages that mention a file inside a sentence are not uses."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text in FILE_NAMES or text.startswith("predictions_"):
                lines.append(node.lineno)
    return sorted(lines)


def _project_sources() -> list[Path]:
    paths = [*(ROOT / "jewelnet_utils").rglob("*.py"), *(ROOT / "scripts").glob("*.py"),
             *(ROOT / "notebooks").glob("*.py")]
    return [p for p in paths if p != ROOT / "jewelnet_utils" / "contracts" / "artifacts.py"]


def test_the_checker_finds_a_planted_reader() -> None:
    planted = ('"""Reads config.json (a docstring is no use)."""\n'
               'import json\n'
               'cfg = json.loads((run / "timings.json").read_text())\n'
               'p = run / f"predictions_{split}.csv"\n'
               'print(f"see {run}/metrics.json")\n')
    assert file_name_uses(planted) == [3, 4]


def test_no_module_outside_artifacts_opens_these_files() -> None:
    found = {str(p.relative_to(ROOT)): lines for p in _project_sources()
             if (lines := file_name_uses(p.read_text(encoding="utf-8")))}
    assert found == {}, f"read or write these files through contracts/artifacts.py: {found}"
