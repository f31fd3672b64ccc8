"""The training protocol end to end on a tiny drawn data set: run folders, resume, determinism,
overwrite protection, strategies and the clear errors. Random weights only (no ImageNet here).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewelnet_utils import cli
from jewelnet_utils.book import ParameterError, check_params
from jewelnet_utils.contracts import config
from jewelnet_utils.contracts.config import PROFILES, JewelNetError
from jewelnet_utils.run import models, train
from jewelnet_utils.split import pipeline, splitting

CLASSES4 = ("bangle", "chain", "ring", "nose_pin")
TINY = dataclasses.replace(
    PROFILES["smoke"], name="tiny", description="tests: smallest inputs, 1-2 epochs",
    input_sizes={"custom_cnn": 48, "vgg16": 32, "resnet50": 32, "efficientnetb2": 32},
    batch_size=8, max_epochs=2, stage1_epochs=1, stage2_epochs=1, feature_cache_views=2,
    max_train_per_class=None,
)


def _picture(rng: np.random.Generator, label: int, size: int = 48) -> Image.Image:
    """Blocky random background (distinct perceptual hashes) + a shape that names the class."""
    blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((size, size), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    r = int(size * rng.uniform(0.2, 0.3))
    cx, cy = (int(v) for v in rng.uniform(r, size - r, 2))
    box = (cx - r, cy - r, cx + r, cy + r)
    colour = [(250, 30, 30), (30, 220, 30), (30, 30, 250), (250, 250, 30)][label]
    [draw.ellipse, draw.rectangle, draw.pieslice, draw.chord][label](
        box, *((0, 300) if label >= 2 else ()), fill=colour)
    return img


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """4 classes x 9 images at 48 px and its split manifest."""
    root = tmp_path_factory.mktemp("tinydata")
    data_dir = root / "data"
    rng = np.random.default_rng(0)
    for label, cls in enumerate(CLASSES4):
        (data_dir / cls).mkdir(parents=True)
        for i in range(9):
            _picture(rng, label).save(data_dir / cls / f"{i:03d}.png")
    split = root / "split.json"
    splitting.save_manifest(splitting.make_split(data_dir, seed=42), split)
    return data_dir, split


def _run(tiny_data: tuple[Path, Path], out: Path, model: str = "custom_cnn",
         profile: config.Profile = TINY, **kwargs: object) -> Path:
    data_dir, split = tiny_data
    return train.train_model(model, data_dir, split, profile=profile, out_dir=out,
                             weights=None, progress=False, **kwargs)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _assert_complete(run_dir: Path, model: str, epochs: list[int], stages: list[int]) -> None:
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["status"] == "complete"
    assert cfg["model"] == model and cfg["weights"] == "none"
    assert cfg["profile"]["name"] == run_dir.name.split("-")[1]
    for key in ("seed", "hparams", "data_hash", "classes", "input_size", "library_versions",
                "data_dir", "split", "params", "flops"):
        assert key in cfg, key
    classes = cfg["classes"]
    assert classes == list(CLASSES4)

    history = _read_csv(run_dir / "history.csv")
    assert list(history[0]) == list(train.HISTORY_COLUMNS)
    assert [int(r["epoch"]) for r in history] == epochs
    assert [int(r["stage"]) for r in history] == stages
    assert all(float(r["learning_rate"]) > 0 for r in history)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("val", "test"):
        rows = _read_csv(run_dir / f"predictions_{split}.csv")
        assert list(rows[0])[:3] == ["path", "label", "pred"]
        assert list(rows[0])[3:] == [f"prob_{c}" for c in classes]
        assert len(rows) == cfg[f"num_{split}"] == metrics[f"num_{split}"]
        probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        acc = np.mean([r["label"] == r["pred"] for r in rows])
        assert metrics[f"{split}_accuracy"] == pytest.approx(acc)

    timings = json.loads((run_dir / "timings.json").read_text())
    for key in ("feature_cache_s", "stage1_s", "stage2_s", "train_s", "epochs"):
        assert key in timings, key
    assert timings["train_s"] > 0
    assert timings["train_s"] == pytest.approx(
        timings["feature_cache_s"] + timings["stage1_s"] + timings["stage2_s"], abs=2e-3)
    for stage, rate in timings["images_per_s"].items():  # images seen per second of the stage
        seen = timings["num_train"] * cfg["epoch_repeats"] * timings["epochs"][stage]
        assert rate == pytest.approx(seen / timings[f"{stage}_s"], rel=1e-2, abs=0.01)
    # CPU seconds beside wall seconds, for every stage that ran.
    assert set(timings["cpu_s"]) == {"feature_cache", "stage1", "stage2"}
    assert timings["cpu_s"]["stage1"] > 0
    best = models.load_model(run_dir / "model.keras")
    assert best.output_shape == (None, len(classes))
    assert best.get_layer("embedding").units == 256
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name != "state.json"]
    assert leftovers == []
    assert not list(run_dir.glob(".*tmp*"))


@pytest.fixture(scope="module")
def custom_run(tiny_data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished custom CNN run, shared by the tests that only read it."""
    return _run(tiny_data, tmp_path_factory.mktemp("shared"))


@pytest.mark.slow
def test_custom_cnn_writes_a_complete_run(custom_run: Path) -> None:
    _assert_complete(custom_run, "custom_cnn", epochs=[1, 2], stages=[1, 1])
    assert custom_run.name == "custom_cnn-tiny-s42"
    cfg = json.loads((custom_run / "config.json").read_text())
    assert cfg["feature_cache"] is False and cfg["input_size"] == 48


# Tracing ResNet50's and EfficientNetB2's graphs costs far more than their few tiny batches,
# so they run eagerly here (VGG16 and the custom CNN cover graph mode), and stage 2 unfreezes
# 5 layers (same code path as 50; test_models checks the real tails).
EAGER = dataclasses.replace(TINY, run_eagerly=True)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "cache", "hparams", "profile"), [
    ("vgg16", False, None, TINY),
    ("resnet50", True, {"trainable_tail": 5}, EAGER),
    ("efficientnetb2", True, {"trainable_tail": 5}, EAGER),
])
def test_transfer_models_write_a_complete_run(tiny_data, tmp_path, model: str, cache: bool,
                                              hparams: dict | None,
                                              profile: config.Profile) -> None:
    run_dir = _run(tiny_data, tmp_path, model, feature_cache=cache, hparams=hparams,
                   profile=profile)
    assert run_dir == tmp_path / f"{model}-tiny-s42"
    _assert_complete(run_dir, model, epochs=[1, 2], stages=[1, 2])
    timings = json.loads((run_dir / "timings.json").read_text())
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["feature_cache"] is cache
    assert (timings["feature_cache_s"] > 0) is cache
    assert cfg["input_size"] == TINY.input_sizes[model]
    assert timings["epochs"] == {"stage1": 1, "stage2": 1}


@pytest.mark.slow
def test_same_seed_same_numbers(tiny_data, tmp_path, custom_run: Path) -> None:
    first = custom_run
    second = _run(tiny_data, tmp_path)
    assert (first / "history.csv").read_text() == (second / "history.csv").read_text()
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
    assert ((first / "predictions_test.csv").read_text()
            == (second / "predictions_test.csv").read_text())


@pytest.mark.slow
def test_resume_after_kills(tiny_data, tmp_path, monkeypatch) -> None:
    """Killed mid-epoch in cached stage 1, then at the end of a stage-2 epoch: each resume
    continues from the last finished epoch and the history holds every epoch once."""
    profile = dataclasses.replace(TINY, stage1_epochs=2, stage2_epochs=2)

    class Killed(RuntimeError):
        pass

    original = train.ThesisProtocol.on_train_batch_begin

    def kill_mid_epoch_2(self, batch, logs=None):
        if self.state["global_epochs"] == 1 and batch == 1:
            raise Killed("simulated kill in the middle of epoch 2")
        return original(self, batch, logs)

    monkeypatch.setattr(train.ThesisProtocol, "on_train_batch_begin", kill_mid_epoch_2)
    with pytest.raises(Killed):
        _run(tiny_data, tmp_path, "vgg16", profile=profile)
    run_dir = tmp_path / "vgg16-tiny-s42"
    assert json.loads((run_dir / "config.json").read_text())["status"] == "running"
    assert [r["epoch"] for r in _read_csv(run_dir / "history.csv")] == ["1"]
    with pytest.raises(JewelNetError, match="--resume"):
        _run(tiny_data, tmp_path, "vgg16", profile=profile)

    monkeypatch.setattr(train.ThesisProtocol, "on_train_batch_begin", original)

    def kill_after_epoch_3(state):
        if state["global_epochs"] == 3:
            raise Killed("simulated kill after epoch 3")

    monkeypatch.setattr(train, "_epoch_end_hook", kill_after_epoch_3)
    with pytest.raises(Killed):
        _run(tiny_data, tmp_path, "vgg16", profile=profile, resume=True)
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    assert (state["stage"], state["stage_epochs_done"], state["stages_done"]) == (2, 1, [1])

    monkeypatch.setattr(train, "_epoch_end_hook", lambda state: None)
    assert _run(tiny_data, tmp_path, "vgg16", profile=profile, resume=True) == run_dir
    _assert_complete(run_dir, "vgg16", epochs=[1, 2, 3, 4], stages=[1, 1, 2, 2])
    cfg = json.loads((run_dir / "config.json").read_text())
    assert "resumed_at" in cfg


@pytest.mark.slow
def test_overwrite_protection(tiny_data, custom_run: Path) -> None:
    out = custom_run.parent
    before = (custom_run / "config.json").read_text()
    with pytest.raises(JewelNetError, match="--overwrite"):
        _run(tiny_data, out)
    assert _run(tiny_data, out, resume=True) == custom_run  # complete: left untouched
    assert (custom_run / "config.json").read_text() == before
    stray = out / "custom_cnn-tiny-s43"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(JewelNetError, match="not a run folder"):
        _run(tiny_data, out, seed=43, overwrite=True)
    assert (stray / "notes.txt").is_file()
    _run(tiny_data, out, overwrite=True)  # same seed: the same (deterministic) run again
    assert json.loads((custom_run / "config.json").read_text())["status"] == "complete"
    assert (custom_run / "config.json").read_text() != before  # new timestamps


@pytest.mark.slow
def test_mirrored_strategy_with_epoch_repeats(tiny_data, tmp_path) -> None:
    run_dir = _run(tiny_data, tmp_path, strategy="mirrored",
                   profile=dataclasses.replace(TINY, epoch_repeats=2))
    _assert_complete(run_dir, "custom_cnn", epochs=[1, 2], stages=[1, 1])
    cfg = json.loads((run_dir / "config.json").read_text())
    assert (cfg["strategy"], cfg["epoch_repeats"]) == ("mirrored", 2)


def test_epoch_repeats_make_k_passes() -> None:
    views = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)  # 2 views of 5 images
    cached = train._CachedViews(views, np.eye(5, dtype="float32"), np.ones(5, "float32"),
                                batch_size=4, seed=0, repeats=3)
    assert len(cached) == 4  # 15 samples
    labels = []
    for i in range(len(cached)):
        x, y, w = cached[i]
        for row, label in zip(x, y.argmax(1), strict=True):
            assert any(np.array_equal(row, views[v, label]) for v in range(2))
            labels.append(int(label))
    assert sorted(labels) == sorted(list(range(5)) * 3)

    images = np.broadcast_to(np.arange(5, dtype=np.uint8)[:, None, None, None], (5, 4, 4, 3))
    py = train._repeat(pipeline.make_dataset(images, np.zeros(5, int), 2, batch_size=2,
                                         training=True, pipeline="py"), 3)
    assert len(py) == 9
    seen = np.concatenate([py[i][0][:, 0, 0, 0] for i in range(len(py))])
    assert sorted(seen.astype(int).tolist()) == sorted(list(range(5)) * 3)
    tf_ds = train._repeat(pipeline.make_dataset(images, np.zeros(5, int), 2, batch_size=2,
                                            training=True, pipeline="tf"), 3)
    seen = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in tf_ds])
    assert sorted(seen.astype(int).tolist()) == sorted(list(range(5)) * 3)


@pytest.mark.slow
def test_cli_train_with_hparams_file(tiny_data, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(config.PROFILES, "tiny", TINY)
    data_dir, split = tiny_data
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"model": "custom_cnn", "hparams": {
        "dense1": 64, "batch_size": 4, "learning_rate": 5e-4, "aug_strength": 0.5}}))
    args = ["train", "--model", "custom_cnn", "--data", str(data_dir), "--split", str(split),
            "--profile", "tiny", "--out", str(tmp_path / "runs"), "--weights", "none",
            "--hparams", str(best)]
    assert cli.main(args) == 0
    run_dir = tmp_path / "runs" / "custom_cnn-tiny-s42"
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["hparams"]["dense1"] == 64
    assert (cfg["batch_size"], cfg["learning_rate"], cfg["aug_strength"]) == (4, 5e-4, 0.5)
    assert cfg["augmentation"]["rotation_deg"] == pytest.approx(10.0)
    assert models.load_model(run_dir / "model.keras").get_layer("fc1").units == 64
    history = _read_csv(run_dir / "history.csv")
    assert float(history[0]["learning_rate"]) == pytest.approx(5e-4, rel=1e-3)
    assert cli.main(args) == 2  # complete run, no --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_cache_views_sets_the_number_of_cached_views(tiny_data, tmp_path, monkeypatch,
                                                         capsys) -> None:
    monkeypatch.setitem(config.PROFILES, "tiny", TINY)
    data_dir, split = tiny_data
    base = ["train", "--model", "vgg16", "--data", str(data_dir), "--split", str(split),
            "--profile", "tiny", "--out", str(tmp_path / "runs"), "--weights", "none"]
    assert cli.main([*base, "--cache-views", "0"]) == 2
    err = capsys.readouterr().err
    assert "--cache-views must be at least 1, got 0" in err and "--no-feature-cache" in err
    assert not (tmp_path / "runs").exists()

    assert cli.main([*base, "--cache-views", "3"]) == 0
    out = capsys.readouterr().out
    cfg = json.loads((tmp_path / "runs" / "vgg16-tiny-s42" / "config.json").read_text())
    assert cfg["feature_cache_views"] == 3 and cfg["profile"]["feature_cache_views"] == 3
    assert TINY.feature_cache_views == 2  # the profile itself is untouched
    assert re.search(r"cached 3 views of \d+ training images", out)
    assert "head on cached features (3 views x" in out


def test_clear_errors_before_any_training(tiny_data, tmp_path, monkeypatch) -> None:
    data_dir, split = tiny_data
    out = tmp_path / "runs"

    def fails(match: str, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("out_dir", out)
        kwargs.setdefault("progress", False)
        with pytest.raises(JewelNetError, match=match):
            train.train_model(*args, **kwargs)

    fails("unknown model", "alexnet", data_dir, split, profile=TINY)
    fails("unknown profile", "custom_cnn", data_dir, split, profile="gpu-cluster")
    fails("split manifest not found", "custom_cnn", data_dir, tmp_path / "no.json", profile=TINY)
    other = tmp_path / "other"
    for cls in CLASSES4:
        (other / cls).mkdir(parents=True)
    fails("was made for", "custom_cnn", other, split, profile=TINY)
    fails("unknown hyperparameter", "custom_cnn", data_dir, split, profile=TINY,
          hparams={"momentum": 0.9})
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"model": "vgg16", "hparams": {"dense1": 128}}))
    fails("tuned for vgg16", "custom_cnn", data_dir, split, profile=TINY, hparams=best)
    best.write_text(json.dumps({"dense1": 128}))
    fails("not a best.json", "custom_cnn", data_dir, split, profile=TINY, hparams=best)
    fails("batch_size", "custom_cnn", data_dir, split, profile=TINY, hparams={"batch_size": 0})
    fails("unknown strategy", "custom_cnn", data_dir, split, profile=TINY, strategy="tpu")
    fails("weights file not found", "vgg16", data_dir, split, profile=TINY, weights="x.h5")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))

    def offline(name: str, cache_dir: object) -> None:
        raise OSError("no network")

    monkeypatch.setattr(models, "_download_backbone_weights", offline)
    fails("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16", data_dir, split,
          profile=TINY, weights="imagenet")
    assert not out.exists()  # nothing was written for any of these


def test_load_hparams_formats() -> None:
    assert train.load_hparams(None, "vgg16") == {}
    assert train.load_hparams({"dense1": 64}, "vgg16") == {"dense1": 64}
    nested = {"model": "vgg16", "hparams": {"learning_rate": "0.001"}}
    assert train.load_hparams(nested, "vgg16") == {"learning_rate": 0.001}
    with pytest.raises(JewelNetError, match="aug_strength"):
        train.load_hparams({"aug_strength": -1}, "vgg16")


# --------------------------------------------------------------------------- the step API

def _steps(tiny_data: tuple[Path, Path], out: Path, model_name: str, **kwargs: object) -> Path:
    """A run made the way notebooks 03-06 make it: one public step per cell."""
    data_dir, split = tiny_data
    run = train.open_run(model_name, data_dir, split, profile=TINY, out_dir=out, weights=None,
                         progress=False, **kwargs)
    model = run.build_model()
    train.compile_model(model, run.learning_rate(1), run_eagerly=run.profile.run_eagerly)
    stage1 = run.fit_stage(1, model)
    assert [row["stage"] for row in stage1] == [1] * len(stage1) and stage1
    if run.two_stage:
        models.set_stage(model, 2, trainable_tail=run.trainable_tail)
        train.compile_model(model, run.learning_rate(2), run_eagerly=run.profile.run_eagerly)
        assert [row["stage"] for row in run.fit_stage(2, model)] == [2]
    return run.finish(model)


@pytest.mark.slow
@pytest.mark.parametrize("cache", [True, False])
def test_train_model_is_the_steps_a_notebook_calls(tiny_data, tmp_path, cache: bool) -> None:
    """The CLI's train_model and the notebooks' step-by-step calls give the same run."""
    by_cli = _run(tiny_data, tmp_path / "cli", "vgg16", feature_cache=cache)
    by_steps = _steps(tiny_data, tmp_path / "steps", "vgg16", feature_cache=cache)
    _assert_complete(by_steps, "vgg16", epochs=[1, 2], stages=[1, 2])
    for name in ("history.csv", "metrics.json", "predictions_val.csv", "predictions_test.csv"):
        assert (by_cli / name).read_text() == (by_steps / name).read_text(), name
    for got, want in zip(models.load_model(by_steps / "model.keras").get_weights(),
                         models.load_model(by_cli / "model.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_fit_stage_on_a_finished_run_trains_nothing(tiny_data, tmp_path, monkeypatch) -> None:
    """A notebook re-run over a finished run: the steps read what the run recorded, the model
    holds the run's best weights, and no file of the run changes."""
    run_dir = _run(tiny_data, tmp_path, "vgg16")
    files = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    data_dir, split = tiny_data
    run = train.open_run("vgg16", data_dir, split, profile=TINY, out_dir=tmp_path,
                         weights=None, resume=True, progress=False)
    assert run.complete and not run.resumed
    model = run.build_model()
    for got, want in zip(model.get_weights(),
                         models.load_model(run_dir / "model.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    recorded = _read_csv(run_dir / "history.csv")
    with monkeypatch.context() as patch:  # undone before the conftest's check of fit
        patch.setattr(keras.Model, "fit", no_training)
        train.compile_model(model, run.learning_rate(1))
        stage1 = run.fit_stage(1, model)
        models.set_stage(model, 2, trainable_tail=run.trainable_tail)
        train.compile_model(model, run.learning_rate(2))
        stage2 = run.fit_stage(2, model)
    assert [r["epoch"] for r in stage1 + stage2] == [int(r["epoch"]) for r in recorded]
    assert [r["val_loss"] for r in stage1 + stage2] == pytest.approx(
        [float(r["val_loss"]) for r in recorded], rel=1e-5)
    assert run.finish(model) == run_dir
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == files


@pytest.mark.parametrize("model_name", ["resnet50", "efficientnetb2"])
def test_set_stage_unfreezes_the_tail_and_keeps_every_batchnorm_frozen(model_name: str) -> None:
    model = models.build_model(model_name, num_classes=4, input_size=32, weights=None)
    backbone = models.backbone_of(model)
    assert models.freeze_report(model)["trainable"] == 0  # stage 1: all of it frozen
    tail = config.MODEL_SPECS[model_name].trainable_tail
    models.set_stage(model, 2)
    norms = [layer for layer in backbone.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    first = len(backbone.layers) - tail
    for index, layer in enumerate(backbone.layers):
        if layer.weights and layer not in norms:
            assert layer.trainable == (index >= first), layer.name
    weighted_tail = [layer for layer in backbone.layers[first:]
                     if layer.weights and layer not in norms]
    report = models.freeze_report(model)
    assert report["trainable"] == len(weighted_tail) > 0
    assert report["trainable BatchNormalization"] == 0
    assert report["BatchNormalization layers"] == len(norms)
    by_type = models.tail_layer_types(model, tail)  # what chapters 04-06 show
    assert sum(sum(kind.values()) for kind in by_type.values()) == tail
    assert by_type.get("BatchNormalization", {}).get("trainable", 0) == 0
    assert sum(kind["trainable"] for kind in by_type.values()) == sum(
        layer.trainable for layer in backbone.layers[first:])
    head_bn = [layer for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(layer.trainable for layer in head_bn)  # EfficientNetB2's new head_bn learns
    models.set_stage(model, 1)  # back to stage 1: the whole backbone is frozen again
    in_backbone = {id(v) for v in backbone.weights}
    assert not any(id(v) in in_backbone for v in model.trainable_weights)
    assert models.freeze_report(model)["trainable"] == 0


def test_steps_called_out_of_order_are_one_line_errors(tiny_data, tmp_path) -> None:
    """What a notebook reader may get wrong is caught before anything trains (this test is
    not marked slow: the conftest fails it if any of these calls reaches ``fit``)."""
    data_dir, split = tiny_data
    run = train.open_run("vgg16", data_dir, split, profile=TINY, out_dir=tmp_path,
                         weights=None, progress=False)
    model = run.build_model()
    with pytest.raises(JewelNetError, match="compile the model"):
        run.fit_stage(1, model)
    train.compile_model(model, run.learning_rate(2))
    with pytest.raises(JewelNetError, match=r"compiled at learning rate 1e-05.*starts at 0\.0001"):
        run.fit_stage(1, model)
    train.compile_model(model, run.learning_rate(1))
    other = models.build_model("vgg16", num_classes=4, input_size=32, weights=None)
    train.compile_model(other, run.learning_rate(1))
    with pytest.raises(JewelNetError, match="build_model"):
        run.fit_stage(1, other)
    models.set_stage(model, 2)
    with pytest.raises(JewelNetError, match=r"partly trainable.*set_stage\(model, 1\)"):
        run.fit_stage(1, model)
    with pytest.raises(JewelNetError, match="stage 1 is not fitted"):
        run.finish(model)
    models.set_stage(model, 1)
    train.compile_model(model, run.learning_rate(2))
    with pytest.raises(JewelNetError, match=r"frozen.*set_stage\(model, 2\)"):
        run.fit_stage(2, model)
    assert json.loads((run.run_dir / "config.json").read_text())["status"] == "running"

    custom = train.open_run("custom_cnn", data_dir, split, profile=TINY, out_dir=tmp_path,
                            weights=None, progress=False)
    cnn = custom.build_model()
    train.compile_model(cnn, custom.learning_rate(1))
    with pytest.raises(JewelNetError, match="custom_cnn trains in one stage"):
        custom.fit_stage(2, cnn)


@pytest.mark.slow
def test_notebook_open_run_refuses_a_finished_run_made_with_other_weights(tiny_data,
                                                                           tmp_path) -> None:
    """The notebooks' ``P.open_run`` reopens its own finished run, but a finished run made
    with other weights is a one-line ParameterError asking for RETRAIN, not silently reused."""
    data_dir, _ = tiny_data
    params = {"PROFILE": "smoke", "DATA_DIR": str(data_dir), "SEED": 42,
              "ARTIFACTS": str(tmp_path / "artifacts")}
    notebook = check_params(WEIGHTS="none", **params)
    run = notebook.open_run("custom_cnn", progress=False)
    model = run.build_model()
    train.compile_model(model, run.learning_rate(1))
    run.fit_stage(1, model)
    run.finish(model)
    assert notebook.open_run("custom_cnn", progress=False).complete

    weights_file = tmp_path / "other.weights.h5"
    model.save_weights(weights_file)
    other = check_params(WEIGHTS=str(weights_file), **params)
    with pytest.raises(ParameterError, match=r"other data or weights.*RETRAIN = True"):
        other.open_run("custom_cnn", progress=False)


def test_the_profile_sets_the_stage2_tail_unless_the_hyperparameters_do(tiny_data,
                                                                        tmp_path) -> None:
    """A profile's ``trainable_tails`` replaces Table B.1's count in the run (and is recorded
    in its config); a tuned ``trainable_tail`` still wins over both."""
    data_dir, split = tiny_data
    whole = dataclasses.replace(TINY, trainable_tails={"vgg16": 19})

    def tail(profile: config.Profile, hparams: dict | None, out: str) -> int:
        run = train.open_run("vgg16", data_dir, split, profile=profile, out_dir=tmp_path / out,
                             weights=None, hparams=hparams, progress=False)
        return run.trainable_tail

    assert tail(TINY, None, "thesis") == config.MODEL_SPECS["vgg16"].trainable_tail == 8
    assert tail(whole, None, "whole") == 19
    assert tail(whole, {"trainable_tail": 3}, "tuned") == 3


@pytest.mark.slow
def test_an_interrupted_run_resumes_only_with_its_own_settings(tiny_data, tmp_path,
                                                               monkeypatch) -> None:
    """Unlike a finished run, an interrupted one is never trained again silently under other
    settings: resuming it with a changed profile stops in one line naming what changed."""

    class Killed(RuntimeError):
        pass

    def kill_after_epoch_1(state):
        if state["global_epochs"] == 1:
            raise Killed("simulated kill after epoch 1")

    monkeypatch.setattr(train, "_epoch_end_hook", kill_after_epoch_1)
    with pytest.raises(Killed):
        _run(tiny_data, tmp_path)
    monkeypatch.undo()
    longer = dataclasses.replace(TINY, max_epochs=3)
    with pytest.raises(JewelNetError, match=r"started with a different profile; pass "
                                            r"--overwrite"):
        _run(tiny_data, tmp_path, profile=longer, resume=True)
    run_dir = tmp_path / "custom_cnn-tiny-s42"
    assert json.loads((run_dir / "config.json").read_text())["status"] == "running"


def test_the_profile_gives_one_model_its_own_stage2_epochs() -> None:
    """``stage2_epochs_per_model`` changes the fine-tuning budget of the models it names and
    no other; a one-stage model has no stage 2 whatever the profile says."""
    longer = dataclasses.replace(TINY, stage2_epochs=3, stage2_epochs_per_model={"vgg16": 5})
    assert longer.stage2_epochs_for("vgg16") == 5
    assert longer.stage2_epochs_for("resnet50") == longer.stage2_epochs_for("efficientnetb2") == 3
    assert longer.stage2_epochs_for("custom_cnn") == 0
    assert PROFILES["cpu"].stage2_epochs_for("efficientnetb2") > PROFILES["cpu"].stage2_epochs
    assert PROFILES["paper"].stage2_epochs_for("efficientnetb2") == PROFILES["paper"].stage2_epochs


@pytest.mark.slow
def test_a_run_fine_tunes_for_its_models_stage2_epochs(tiny_data, tmp_path) -> None:
    """The run trains stage 2 for the profile's per-model count, not ``stage2_epochs``."""
    profile = dataclasses.replace(TINY, early_stop_patience=10,
                                  stage2_epochs_per_model={"vgg16": 2})
    run_dir = _run(tiny_data, tmp_path, "vgg16", profile=profile)
    _assert_complete(run_dir, "vgg16", epochs=[1, 2, 3], stages=[1, 2, 2])


@pytest.mark.slow
def test_a_finished_run_of_other_settings_is_trained_again(tiny_data, tmp_path,
                                                           capsys) -> None:
    """``resume`` reuses a finished run only for the settings it was trained with: after a
    profile change it trains again, keeping the old run aside until the new one is done."""
    run_dir = _run(tiny_data, tmp_path)
    data_dir, split = tiny_data
    same = train.open_run("custom_cnn", data_dir, split, profile=TINY, out_dir=tmp_path,
                          weights=None, resume=True, progress=False)
    assert same.complete
    shorter = dataclasses.replace(TINY, max_epochs=1)
    run = train.open_run("custom_cnn", data_dir, split, profile=shorter, out_dir=tmp_path,
                         weights=None, resume=True, progress=True)
    assert not run.complete and "finished with other profile; training it again" in (
        capsys.readouterr().out)
    backup = tmp_path / f".{run_dir.name}.previous"
    assert json.loads((backup / "config.json").read_text())["status"] == "complete"
    assert train.complete_run(run) == run_dir and not backup.exists()
    _assert_complete(run_dir, "custom_cnn", epochs=[1], stages=[1])
    assert json.loads((run_dir / "config.json").read_text())["profile"]["max_epochs"] == 1
