"""A failed `jewelnet train` leaves nothing that blocks the next, corrected command.

Every input is checked before the run folder exists (one test per check: the error names the
bad value and no folder is created). What can only fail once the folder exists (weights that do
not fit the model) marks the start "failed", and the corrected command then replaces it without
--overwrite, while a genuinely interrupted run is still protected.
"""

from __future__ import annotations

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewelnet_utils import cli
from jewelnet_utils.contracts.config import PROFILES, JewelNetError, run_name
from jewelnet_utils.run import train
from jewelnet_utils.split import splitting

CLASSES3 = ("bangle", "chain", "ring")
TINY = dataclasses.replace(
    PROFILES["smoke"], name="tiny", description="tests: smallest inputs, one epoch",
    input_sizes={"custom_cnn": 48, "vgg16": 32, "resnet50": 32, "efficientnetb2": 32},
    batch_size=8, max_epochs=1, stage1_epochs=1, stage2_epochs=0, feature_cache_views=1,
    max_train_per_class=None,
)


def _picture(seed: int, label: int) -> Image.Image:
    """Blocky random background (distinct hashes) with a class-coloured disc."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((48, 48), Image.Resampling.NEAREST)
    colour = [(250, 30, 30), (30, 220, 30), (30, 30, 250)][label]
    ImageDraw.Draw(img).ellipse((12, 12, 36, 36), fill=colour)
    return img


def _folder(root: Path, seed: int) -> Path:
    for label, cls in enumerate(CLASSES3):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            _picture(seed * 1000 + label * 100 + i, label).save(root / cls / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two photo folders with the SAME file names but different pictures, and A's split."""
    base = tmp_path_factory.mktemp("failed_start")
    a, b = _folder(base / "photos_a", 1), _folder(base / "photos_b", 2)
    split_a = base / "split_a.json"
    splitting.save_manifest(splitting.make_split(a, seed=42), split_a)
    return {"a": a, "b": b, "split_a": split_a, "base": base}


def _args(folders: dict[str, Path], out: Path, **changes: Any) -> dict[str, Any]:
    kwargs = {"model_name": "custom_cnn", "data_dir": folders["a"],
              "split_path": folders["split_a"], "profile": TINY, "out_dir": out,
              "weights": None, "progress": False}
    kwargs.update(changes)
    return kwargs


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# Each case: (id, what to change, the words the error must contain). Values that need a file
# are built by a function of the fixtures and a scratch folder.
Change = Callable[[dict[str, Path], Path], dict[str, Any]]
CASES: list[tuple[str, Change, str]] = [
    ("model", lambda f, t: {"model_name": "alexnet"}, "alexnet"),
    ("profile", lambda f, t: {"profile": "gpu-cluster"}, "gpu-cluster"),
    ("data-dir-missing", lambda f, t: {"data_dir": t / "nowhere"}, "data folder not found"),
    ("split-missing", lambda f, t: {"split_path": t / "no.json"}, "split manifest not found"),
    ("split-not-json", lambda f, t: {"split_path": _write(t / "s.json", "{oops")},
     "cannot read"),
    ("split-not-a-manifest", lambda f, t: {"split_path": _write(t / "s.json", '{"a": 1}')},
     "not a valid split manifest"),
    # The case: same file names, other pictures, so only the hashes tell them apart.
    ("split-of-another-folder", lambda f, t: {"data_dir": f["b"]},
     "changed since the split manifest was written"),
    ("split-files-missing", lambda f, t: {"data_dir": _empty_classes(t)}, "was made for"),
    ("hparams-unknown-key", lambda f, t: {"hparams": {"momentum": 0.9}}, "momentum"),
    ("hparams-other-model", lambda f, t: {"hparams": _write(
        t / "best.json", json.dumps({"model": "vgg16", "hparams": {"dense1": 64}}))},
     "tuned for vgg16"),
    ("hparams-bad-value", lambda f, t: {"hparams": {"batch_size": 0}}, "batch_size"),
    ("weights-missing", lambda f, t: {"model_name": "vgg16", "weights": t / "x.weights.h5"},
     "weights file not found"),
    ("weights-unknown-kind", lambda f, t: {"model_name": "vgg16",
                                           "weights": _write(t / "w.bin", "x")},
     "cannot tell what"),
    ("strategy", lambda f, t: {"strategy": "tpu"}, "unknown strategy"),
]


def _empty_classes(tmp: Path) -> Path:
    root = tmp / "empty_photos"
    for cls in CLASSES3:
        (root / cls).mkdir(parents=True)
    return root


@pytest.mark.parametrize(("change", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_input_is_checked_before_the_run_folder_exists(folders, tmp_path, change, words):
    out = tmp_path / "runs"
    with pytest.raises(JewelNetError, match=words):
        train.train_model(**_args(folders, out, **change(folders, tmp_path)))
    assert not out.exists(), "a rejected input left a run folder behind"


def test_cli_cache_views_is_checked_before_the_run_folder_exists(folders, tmp_path, capsys):
    out = tmp_path / "runs"
    code = cli.main(["train", "--model", "vgg16", "--data", str(folders["a"]), "--split",
                     str(folders["split_a"]), "--profile", "smoke", "--out", str(out),
                     "--weights", "none", "--cache-views", "0"])
    assert code == 2 and "--cache-views" in capsys.readouterr().err
    assert not out.exists()


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "config.json").read_text())["status"]


@pytest.mark.slow
def test_a_start_that_fails_inside_the_run_folder_is_replaced_by_the_next(folders, tmp_path):
    """Weights that do not fit are only found while the model is built, after config.json is
    written: the start is marked failed and the corrected command runs without --overwrite."""
    out = tmp_path / "runs"
    bad_weights = _write(tmp_path / "other.weights.h5", "not an HDF5 file")
    with pytest.raises(JewelNetError, match="cannot load weights"):
        train.train_model(**_args(folders, out, weights=bad_weights))
    run_dir = out / run_name("custom_cnn", TINY.name, 42)
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["status"] == "failed" and "cannot load weights" in cfg["error"]

    assert train.train_model(**_args(folders, out)) == run_dir
    assert _status(run_dir) == "complete"


@pytest.mark.slow
def test_an_interrupted_run_is_still_protected(folders, tmp_path, monkeypatch):
    """Only a start that never finished an epoch may be replaced; a run with a checkpoint
    is kept for --resume (the failure is simulated after the first epoch's checkpoint)."""
    out = tmp_path / "runs"

    def killed(state: dict[str, Any]) -> None:
        raise RuntimeError("simulated crash after the first epoch")

    monkeypatch.setattr(train, "_epoch_end_hook", killed)
    with pytest.raises(RuntimeError):
        train.train_model(**_args(folders, out))
    run_dir = out / run_name("custom_cnn", TINY.name, 42)
    assert _status(run_dir) == "running"
    monkeypatch.undo()
    with pytest.raises(JewelNetError, match="interrupted run"):
        train.train_model(**_args(folders, out))


@pytest.mark.slow
def test_cli_split_of_another_folder_then_the_corrected_command(folders, tmp_path, capsys):
    """The issue's sequence through the CLI: a wrong --data stops in one line and leaves no
    folder; the same command with the right --data then completes."""
    out = tmp_path / "runs"
    command = ["train", "--model", "custom_cnn", "--split", str(folders["split_a"]),
               "--profile", "smoke", "--out", str(out), "--weights", "none"]
    assert cli.main([*command, "--data", str(folders["b"])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "split manifest" in err
    assert not out.exists()
    assert cli.main([*command, "--data", str(folders["a"])]) == 0
    assert _status(out / run_name("custom_cnn", "smoke", 42)) == "complete"
