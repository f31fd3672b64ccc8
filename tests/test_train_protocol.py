"""The training protocol driven directly, and the stateful paths checked by their effects.

* ``ThesisProtocol`` is fed a scripted sequence of validation losses and accuracies: the epoch
  it stops at, every learning-rate value (decay and plateau halvings) and which epoch's
  weights reach ``model.keras`` and ``metrics.json`` are asserted against hand-worked numbers.
* Stage 2 after a real fit: frozen backbone weights and every BatchNorm parameter and moving
  statistic are bit-identical afterwards, and the unfrozen tail moved.
* Resume: a run killed after an epoch and resumed ends where an uninterrupted run ends, both
  without random streams (full batches, no augmentation, no dropout) and with all of them
  (shuffled minibatches, augmentation, dropout).
"""

from __future__ import annotations

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewelnet_utils.contracts.config import PROFILES
from jewelnet_utils.run import models, train
from jewelnet_utils.split import pipeline, splitting

CLASSES4 = ["bangle", "chain", "ring", "nose_pin"]
SIZE = 46  # the custom CNN's smallest input: the cheapest real model
PROTOCOL = dataclasses.replace(
    PROFILES["smoke"], name="protocol", lr_decay=1e-6, reduce_lr_patience=5,
    reduce_lr_factor=0.5, early_stop_patience=10, max_epochs=50,
    input_sizes={"custom_cnn": SIZE, "vgg16": 32, "resnet50": 32, "efficientnetb2": 32},
)
BASE_LR = 1e-4
STEPS_PER_EPOCH = 1000  # large, so the 1 / (1 + decay * iterations) factor is visible

# Scripted validation results, epoch 1 first (Table 4.4's patiences: plateau 5, early stop 10).
# val_loss improves to 0.7 at epoch 4; epoch 5 improves by less than min_delta (1e-4), so it is
# the first of five plateau epochs and the learning rate halves after epoch 9. Epoch 10
# improves, epochs 11-15 plateau, the rate halves again after epoch 15.
VAL_LOSS = [1.0, 0.9, 0.8, 0.7, 0.69995, 0.7, 0.7, 0.7, 0.7, 0.6,
            0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
# val_accuracy peaks at epoch 6; epoch 7 only equals it (no strict improvement), and ten
# epochs without improvement (7-16) stop training at the end of epoch 16.
VAL_ACC = [0.3, 0.4, 0.5, 0.55, 0.55, 0.6, 0.6, 0.58, 0.59, 0.5,
           0.55, 0.57, 0.6, 0.56, 0.52, 0.59, 0.9, 0.9]
STOP_EPOCH, BEST_EPOCH = 16, 6
LR_MULTIPLIER = [1.0] * 9 + [0.5] * 6 + [0.25]  # in force during epochs 1..16


def _arrays(n: int, seed: int) -> pipeline.SplitArrays:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.arange(n) % len(CLASSES4)
    return pipeline.SplitArrays(images, labels, [f"img{i}.png" for i in range(n)], CLASSES4)


def _trainer(run_dir: Path) -> train._Trainer:
    (run_dir / "checkpoints").mkdir(parents=True)
    trainer = train._Trainer("custom_cnn", PROTOCOL, run_dir, seed=0, hparams={},
                             progress=False)
    keras.utils.set_random_seed(0)
    trainer.model = models.build_model("custom_cnn", num_classes=4, input_size=SIZE,
                                       weights=None)
    train.compile_model(trainer.model, BASE_LR)
    trainer.model.optimizer.build(trainer.model.trainable_variables)
    return trainer


def test_protocol_stops_halves_decays_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "run")
    model = trainer.model
    protocol = train.ThesisProtocol(trainer, stage=1, base_lr=BASE_LR, epochs=50)
    protocol.set_model(model)
    rng = np.random.default_rng(1)
    start = model.get_weights()
    weights_at: dict[int, list[np.ndarray]] = {}
    seen_lr, stopped_after = [], None
    for epoch in range(len(VAL_LOSS)):
        iterations = epoch * STEPS_PER_EPOCH
        model.optimizer.iterations.assign(iterations)
        protocol.on_epoch_begin(epoch)
        protocol.on_train_batch_begin(0)
        seen_lr.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        # "Training" this epoch: distinct weights per epoch, so the saved ones name their epoch.
        weights_at[epoch + 1] = [w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                                 for w in start]
        model.set_weights(weights_at[epoch + 1])
        protocol.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.5,
                                      "val_loss": VAL_LOSS[epoch], "val_accuracy": VAL_ACC[epoch]})
        if model.stop_training:
            stopped_after = epoch + 1
            break
    assert stopped_after == STOP_EPOCH

    # lr = base * multiplier / (1 + decay * iterations), worked out here by hand.
    expected = [BASE_LR * m / (1 + 1e-6 * e * STEPS_PER_EPOCH)
                for e, m in enumerate(LR_MULTIPLIER)]
    np.testing.assert_allclose(seen_lr, expected, rtol=1e-6)
    assert expected[9] / expected[8] == pytest.approx(0.5 * (1 + 8e-3) / (1 + 9e-3))
    with open(tmp_path / "run" / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in history] == list(range(1, STOP_EPOCH + 1))
    np.testing.assert_allclose([float(r["learning_rate"]) for r in history], expected,
                               rtol=1e-5)

    st = trainer.state
    assert (st["best_epoch"], st["best_val_accuracy"]) == (BEST_EPOCH, 0.6)
    assert st["stopped_early"] == {"1": True} and st["checkpoint"] is None

    # The last epoch's weights are in the model; model.keras and metrics.json must hold epoch 6.
    cfg = {"model": "custom_cnn", "profile": {"name": "protocol"}, "seed": 0,
           "weights": "none", "data_dir": "data", "data_hash": "0" * 64,
           "library_versions": {}, "status": "running", "classes": CLASSES4,
           "input_size": SIZE, "feature_cache_views": 0}
    val, test = _arrays(8, seed=2), _arrays(8, seed=3)
    train._finish(trainer, cfg, _arrays(8, seed=4), val, test, batch_size=8, t_start=0.0)
    saved = models.load_model(tmp_path / "run" / "model.keras")
    for got, want in zip(saved.get_weights(), weights_at[BEST_EPOCH], strict=True):
        np.testing.assert_array_equal(got, want)
    reference = models.build_model("custom_cnn", num_classes=4, input_size=SIZE, weights=None)
    reference.set_weights(weights_at[BEST_EPOCH])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["best_epoch"], metrics["best_stage"]) == (BEST_EPOCH, 1)
    for name, arrays in (("val", val), ("test", test)):
        probs = reference.predict(arrays.images.astype("float32"), verbose=0)
        assert metrics[f"{name}_accuracy"] == pytest.approx(
            float(np.mean(probs.argmax(1) == arrays.labels)))


def test_plateau_needs_more_than_min_delta_and_early_stop_a_strict_gain(tmp_path: Path) -> None:
    """val_loss gains that stay within min_delta (1e-4) of the best count as a plateau, as in
    keras.callbacks.ReduceLROnPlateau; an equal val_accuracy is no gain."""
    trainer = _trainer(tmp_path / "run")
    protocol = train.ThesisProtocol(trainer, stage=1, base_lr=BASE_LR, epochs=50)
    protocol.set_model(trainer.model)
    losses = [1.0 - 1.5e-5 * k for k in range(6)]  # 7.5e-5 below the best after five
    for epoch, loss in enumerate(losses):
        protocol.on_epoch_begin(epoch)
        protocol.on_epoch_end(epoch, {"val_loss": loss, "val_accuracy": 0.5})
    assert trainer.state["lr_multiplier"] == 0.5  # halved after the fifth small gain
    assert trainer.state["es_wait"] == 5 and trainer.state["best_epoch"] == 1


# --------------------------------------------------------------------------- resume

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """4 classes x 20 drawn pictures at 48 px (a class-coloured shape on a blocky background)
    and their split manifest."""
    root = tmp_path_factory.mktemp("resume-data")
    rng = np.random.default_rng(0)
    colours = [(250, 30, 30), (30, 220, 30), (30, 30, 250), (250, 250, 30)]
    for label, cls in enumerate(CLASSES4):
        (root / "data" / cls).mkdir(parents=True)
        for i in range(20):
            blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            img = Image.fromarray(blocks).resize((48, 48), Image.Resampling.NEAREST)
            cx, cy = (int(v) for v in rng.uniform(12, 36, 2))
            ImageDraw.Draw(img).ellipse((cx - 10, cy - 10, cx + 10, cy + 10), fill=colours[label])
            img.save(root / "data" / cls / f"{i:03d}.png")
    splitting.save_manifest(splitting.make_split(root / "data", seed=42), root / "split.json")
    return root / "data", root / "split.json"


# Two runs resume must carry to the same end. Full-batch training without augmentation or
# dropout needs only what the checkpoint restores: weights, Adam's moments and step count,
# the protocol's counters, best weights. Minibatches, augmentation and dropout add the random
# streams, which must continue as in the uninterrupted run (each epoch is seeded from the
# run's seed, stage and epoch).
RESUMABLE = dataclasses.replace(PROTOCOL, name="resume", input_sizes={**PROTOCOL.input_sizes,
                                                                      "custom_cnn": 48},
                                batch_size=64, max_epochs=8, reduce_lr_patience=2,
                                early_stop_patience=4)
NO_RANDOMNESS = {"aug_strength": 0.0, "dropout1": 0.0, "dropout2": 0.0, "l2": 0.0,
                 "learning_rate": 3e-3}
# Every random stream on: two shuffled minibatches of the 32 training images per epoch,
# augmentation and dropout. The best epoch comes after the kill, so the final weights are
# shaped by the random draws after the resume.
WITH_RANDOMNESS = {**NO_RANDOMNESS, "batch_size": 16, "learning_rate": 1e-2,
                   "aug_strength": 1.0, "dropout1": 0.5, "dropout2": 0.5}
KILL_AFTER = 2  # before the best epoch, the plateau halving and the early stop


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _numbers(rows: list[dict[str, str]], skip: tuple[str, ...]) -> np.ndarray:
    return np.array([[float(v) for k, v in r.items() if k not in skip] for r in rows])


@pytest.mark.slow
@pytest.mark.parametrize("hparams", [
    pytest.param(NO_RANDOMNESS, id="full-batch-no-augmentation-no-dropout"),
    pytest.param(WITH_RANDOMNESS, id="minibatches-augmentation-dropout"),
])
def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tiny_data, tmp_path,
                                                               monkeypatch, hparams) -> None:
    data_dir, split = tiny_data

    def run(out: Path, **kwargs: object) -> Path:
        return train.train_model("custom_cnn", data_dir, split, profile=RESUMABLE, out_dir=out,
                                 weights=None, hparams=hparams, progress=False, **kwargs)

    whole = run(tmp_path / "whole")

    class Killed(RuntimeError):
        pass

    def kill(state: dict) -> None:
        if state["global_epochs"] == KILL_AFTER:
            raise Killed(f"simulated kill after epoch {KILL_AFTER}")

    monkeypatch.setattr(train, "_epoch_end_hook", kill)
    with pytest.raises(Killed):
        run(tmp_path / "killed")
    monkeypatch.setattr(train, "_epoch_end_hook", lambda state: None)
    resumed = run(tmp_path / "killed", resume=True)
    assert json.loads((resumed / "config.json").read_text())["status"] == "complete"
    # The scenario exercises what resume must carry: the best epoch comes after the kill; in
    # the case without random streams, which is there for the protocol's counters, a plateau
    # halving and the early stop do too.
    metrics = json.loads((whole / "metrics.json").read_text())
    history = _read_rows(whole / "history.csv")
    assert metrics["best_epoch"] > KILL_AFTER
    if hparams is NO_RANDOMNESS:
        rates = [float(r["learning_rate"]) for r in history]
        assert rates[-1] < 0.6 * rates[KILL_AFTER] and len(history) < RESUMABLE.max_epochs

    # Tolerance: one unit of the last digit the files print (probabilities with 6 decimals,
    # history with 6 significant digits). Both runs do the same float32 operations on the same
    # numbers in the same order under TensorFlow's op determinism, so they agree bit for bit;
    # the allowance only keeps a value that rounds on a printed digit's edge from failing. A
    # resume that restarts any one random stream (data order, augmentation or dropout), or
    # loses Adam's state, ends with some probabilities 0.1 or more apart here.
    for name in ("val", "test"):
        a = _read_rows(whole / f"predictions_{name}.csv")
        b = _read_rows(resumed / f"predictions_{name}.csv")
        assert [r["path"] for r in a] == [r["path"] for r in b]
        np.testing.assert_allclose(_numbers(b, ("path", "label", "pred")),
                                   _numbers(a, ("path", "label", "pred")), rtol=0, atol=1e-6)
    assert json.loads((resumed / "metrics.json").read_text()) == metrics
    np.testing.assert_allclose(_numbers(_read_rows(resumed / "history.csv"), ()),
                               _numbers(history, ()), rtol=1e-5, atol=0)


# --------------------------------------------------------------------------- stage 2

def _vgg16_stage2_trainable(num_classes: int) -> int:
    """block4_conv1 (256 -> 512) and five 512 -> 512 convolutions (VGG16's last 8 layers hold
    block4's and block5's convolutions and poolings), plus the head 512 -> 512 -> 256 -> k."""
    conv = (9 * 256 * 512 + 512) + 5 * (9 * 512 * 512 + 512)
    head = (512 * 512 + 512) + (512 * 256 + 256) + (256 * num_classes + num_classes)
    return conv + head


@pytest.mark.slow
@pytest.mark.parametrize(("model_name", "hparams", "eager"), [
    ("vgg16", {}, False),
    # ResNet50's last 5 layers include conv5_block3_3_bn: a BatchNorm inside the unfrozen tail.
    # Eager, because tracing ResNet50 costs far more than its few tiny batches.
    ("resnet50", {"trainable_tail": 5}, True),
])
def test_stage2_fit_moves_only_the_tail(tiny_data, tmp_path, monkeypatch, model_name: str,
                                        hparams: dict, eager: bool) -> None:
    data_dir, split = tiny_data
    profile = dataclasses.replace(PROTOCOL, name="stage2", batch_size=8, stage1_epochs=1,
                                  stage2_epochs=1, run_eagerly=eager)
    seen: dict[str, object] = {}
    fit_stage = train._Trainer.fit_stage

    def snapshot_stage2(self, stage, fitted, *args, **kwargs):
        if stage == 2:
            seen["model"] = fitted
            seen["trainable"] = models.count_params(fitted)["trainable"]
            seen["before"] = {id(v): np.array(v) for v in fitted.weights}
        fit_stage(self, stage, fitted, *args, **kwargs)
        if stage == 2:
            seen["after"] = {id(v): np.array(v) for v in fitted.weights}

    monkeypatch.setattr(train._Trainer, "fit_stage", snapshot_stage2)
    train.train_model(model_name, data_dir, split, profile=profile, out_dir=tmp_path,
                      weights=None, hparams=hparams, progress=False)
    model = seen["model"]
    before, after = seen["before"], seen["after"]
    backbone = models.backbone_of(model)
    tail = hparams.get("trainable_tail", 8)
    tail_layers = backbone.layers[-tail:]
    moved, frozen, bn_frozen = 0, 0, 0
    for layer in backbone.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        for var in layer.weights:  # BatchNorm: gamma, beta, moving mean and variance
            same = np.array_equal(before[id(var)], after[id(var)])
            if layer in tail_layers and not is_bn:
                assert not same, f"{var.path} is in the unfrozen tail but did not move"
                moved += 1
            else:
                assert same, f"{var.path} changed in stage 2"
                frozen += 1
                bn_frozen += is_bn
    assert moved and frozen > moved
    if model_name == "resnet50":
        assert bn_frozen == 4 * sum(isinstance(la, keras.layers.BatchNormalization)
                                    for la in backbone.layers)
    head = [model.get_layer(n) for n in ("fc1", "embedding", "predictions")]
    for layer in head:
        assert not np.array_equal(before[id(layer.kernel)], after[id(layer.kernel)]), layer.name
    if model_name == "vgg16":
        assert seen["trainable"] == _vgg16_stage2_trainable(len(CLASSES4)) == 13_374_212
