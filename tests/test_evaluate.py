"""evaluate.py and plots.py: metrics by hand, statistics, calibration, Grad-CAM, the report."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelnet_utils.contracts import artifacts
from jewelnet_utils.contracts.config import JewelNetError
from jewelnet_utils.report import evaluate as ev

# y_true / y_pred with a hand-computed confusion matrix; class 2 ("chain") is never predicted
# and class 3 ("earring") neither occurs nor is predicted.
#            pred: 0  1  2
#   true 0 (4):    3  1  0
#   true 1 (3):    1  2  0
#   true 2 (2):    1  1  0
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 1, 0, 0, 1]
CLASSES4 = ["bangle", "bracelet", "chain", "earring"]


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------

def test_per_class_metrics_by_hand_no_warning_for_unpredicted_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = ev.per_class_metrics(Y_TRUE, Y_PRED, CLASSES4).set_index("class")
    b, r, c, e = (table.loc[k] for k in CLASSES4)
    # bangle: TP 3, FP 2, FN 1, TN 3
    assert b["Precision"] == pytest.approx(3 / 5)
    assert b["Recall"] == pytest.approx(3 / 4)
    assert b["F1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert b["FPR"] == pytest.approx(2 / 5)
    assert b["FNR"] == pytest.approx(1 / 4)
    assert b["Accuracy"] == pytest.approx(6 / 9)
    assert b["Support"] == 4
    # bracelet: TP 2, FP 2, FN 1, TN 4
    assert r["Precision"] == pytest.approx(0.5)
    assert r["Recall"] == pytest.approx(2 / 3)
    assert r["F1"] == pytest.approx(4 / 7)
    assert r["FPR"] == pytest.approx(2 / 6)
    assert r["FNR"] == pytest.approx(1 / 3)
    # chain: never predicted -> precision defined as 0; TP 0, FP 0, FN 2, TN 7
    assert (c["Precision"], c["Recall"], c["F1"]) == (0.0, 0.0, 0.0)
    assert c["FPR"] == 0.0 and c["FNR"] == 1.0
    assert c["Accuracy"] == pytest.approx(7 / 9)
    # earring: absent and never predicted -> every ratio with a zero denominator is 0
    assert (e["Precision"], e["Recall"], e["F1"], e["FPR"], e["FNR"]) == (0, 0, 0, 0, 0)
    assert e["Accuracy"] == 1.0 and e["Support"] == 0
    assert not table.isna().any().any()

    macro, weighted = table.loc["Macro Avg"], table.loc["Weighted Avg"]
    assert macro["Precision"] == pytest.approx((0.6 + 0.5 + 0 + 0) / 4)
    assert macro["Recall"] == pytest.approx((0.75 + 2 / 3) / 4)
    assert macro["FPR"] == pytest.approx((0.4 + 1 / 3) / 4)
    assert macro["FNR"] == pytest.approx((0.25 + 1 / 3 + 1) / 4)
    assert weighted["Precision"] == pytest.approx((4 * 0.6 + 3 * 0.5) / 9)
    assert weighted["Recall"] == pytest.approx((4 * 0.75 + 3 * 2 / 3) / 9)  # = accuracy
    assert weighted["Recall"] == pytest.approx(5 / 9)
    assert macro["Support"] == 9


def test_summary_row_is_table_5_1_shape():
    row = ev.summary_row(Y_TRUE, Y_PRED, CLASSES4[:3])
    assert list(row) == ["Accuracy", "Precision", "Recall", "F1", "FPR", "FNR"]
    assert row["Accuracy"] == pytest.approx(5 / 9)
    assert row["Precision"] == pytest.approx(1.1 / 3)
    assert row["Recall"] + row["FNR"] == pytest.approx(1.0)


def test_confusion_counts():
    cm = ev.confusion(Y_TRUE, Y_PRED, 4)
    assert cm.tolist() == [[3, 1, 0, 0], [1, 2, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]


# --------------------------------------------------------------------------------------------
# uncertainty
# --------------------------------------------------------------------------------------------

def test_bootstrap_deterministic_and_contains_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 185)
    p = np.where(rng.random(185) < 0.9, y, rng.integers(0, 8, 185))
    a1 = ev.bootstrap_ci(y, p, "accuracy", 500, seed=7)
    a2 = ev.bootstrap_ci(y, p, "accuracy", 500, seed=7)
    a3 = ev.bootstrap_ci(y, p, "accuracy", 500, seed=8)
    assert a1 == a2 and a1 != a3
    assert a1.low <= a1.estimate <= a1.high
    assert a1.estimate == pytest.approx(np.mean(y == p))
    f1 = ev.bootstrap_ci(y, p, "macro_f1", 500, seed=7, n_classes=8)
    assert f1.low <= f1.estimate <= f1.high
    assert f1.high - f1.low < 0.2


def test_bootstrap_intervals_cover_the_truth_at_their_level():
    """200 simulated test sets of n = 185 with a true accuracy of 0.9: the 95 % intervals must
    cover 0.9 in 90-99 % of them (a percentile bootstrap of a proportion at this n covers a
    little under its level), be about 2 * 1.96 * sqrt(0.9 * 0.1 / 185) = 0.086 wide, and the
    50 % intervals about 0.674 / 1.96 of that, covering about half the time."""
    rng = np.random.default_rng(2024)
    n, p, sets = 185, 0.9, 200
    y = np.zeros(n, dtype=int)
    covered = {0.95: 0, 0.5: 0}
    widths: dict[float, list[float]] = {0.95: [], 0.5: []}
    for k in range(sets):
        pred = (rng.random(n) >= p).astype(int)  # wrong (class 1) with probability 0.1
        for level in covered:
            ci = ev.bootstrap_ci(y, pred, "accuracy", 1000, seed=k, level=level, n_classes=2)
            covered[level] += ci.low <= p <= ci.high
            widths[level].append(ci.high - ci.low)
    assert 0.90 <= covered[0.95] / sets <= 0.99
    assert 0.35 <= covered[0.5] / sets <= 0.65
    se = math.sqrt(p * (1 - p) / n)
    assert np.mean(widths[0.95]) == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert np.mean(widths[0.5]) == pytest.approx(2 * 0.674 * se, rel=0.15)


def test_bootstrap_vectorised_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 60)
    p = np.where(rng.random(60) < 0.7, y, rng.integers(0, 5, 60))

    def sk(t, q):
        return f1_score(t, q, average="macro", zero_division=0)

    fast = ev.bootstrap_ci(y, p, "macro_f1", 40, seed=3, n_classes=5)
    slow = ev.bootstrap_ci(y, p, sk, 40, seed=3, n_classes=5)
    assert fast.estimate == pytest.approx(sk(y, p))
    assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)


def test_mcnemar_exact_by_hand():
    # 10 images only A gets right, 2 only B, 30 both, 5 neither.
    a = [True] * 10 + [False] * 2 + [True] * 30 + [False] * 5
    b = [False] * 10 + [True] * 2 + [True] * 30 + [False] * 5
    n_b, n_c, p = ev.mcnemar_exact(a, b)
    expected = 2 * sum(math.comb(12, i) for i in range(3)) / 2 ** 12
    assert (n_b, n_c) == (10, 2)
    assert p == pytest.approx(expected)  # 0.0386
    assert ev.mcnemar_exact([True, False], [True, False])[2] == 1.0
    with pytest.raises(JewelNetError):
        ev.mcnemar_exact([True], [True, False])


def test_seeds_table_mean_std():
    summary = pd.DataFrame({
        "model": ["vgg16", "vgg16", "custom_cnn"], "seed": [1, 2, 1],
        "profile": "cpu", "dataset": "d", "weights": "none",
        **{m: [0.8, 0.9, 0.7] for m in ev.METRIC_COLUMNS},
    })
    seeds = ev.seeds_table(summary).set_index("model")
    assert seeds.loc["vgg16", "n_seeds"] == 2
    assert seeds.loc["vgg16", "Accuracy mean"] == pytest.approx(0.85)
    assert seeds.loc["vgg16", "Accuracy std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert np.isnan(seeds.loc["custom_cnn", "Accuracy std"])


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------

def test_ece_by_hand():
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.35, 0.65], [0.38, 0.62]])
    y = np.array([0, 1, 1, 0])
    # bins of 0.1: (0.9,1]: conf .95 acc 1; (0.8,0.9]: conf .85 acc 0; (0.6,0.7]: conf .635 acc .5
    expected = (1 * 0.05 + 1 * 0.85 + 2 * 0.135) / 4
    assert ev.expected_calibration_error(probs, y, n_bins=10) == pytest.approx(expected)
    rel = ev.reliability_data(probs, y, n_bins=10)
    assert rel["count"] == [0, 0, 0, 0, 0, 0, 2, 0, 1, 1]
    assert rel["accuracy"][6] == 0.5 and rel["confidence"][6] == pytest.approx(0.635)
    rep = ev.calibration_report(probs, y, n_bins=10)
    assert rep["mce"] == pytest.approx(0.85)
    perfect = np.eye(3)[[0, 1, 2]]
    assert ev.expected_calibration_error(perfect, [0, 1, 2]) == 0.0


# --------------------------------------------------------------------------------------------
# models: FLOPs, Grad-CAM
# --------------------------------------------------------------------------------------------

def _tiny_model(num_classes=3, size=16, nested=False):
    import keras

    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    if nested:
        b_in = keras.Input((size, size, 3))
        h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv1")(b_in)
        h = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu",
                                name="b_conv2")(h)
        h = keras.layers.BatchNormalization(name="b_bn")(h)
        x = keras.Model(b_in, h, name="backbone")(x)
    else:
        x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu",
                                name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, activation="relu", name="embedding")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out)


def test_model_flops_by_hand():
    import keras

    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)  # 256 positions * 3*3*3*4
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 256 * 3*3*4
    x = keras.layers.SeparableConv2D(5, 3, padding="same")(x)  # 256 * (3*3*4 + 4*5)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2)(x)  # 5*2
    model = keras.Model(inp, out)
    assert ev.model_flops(model) == 256 * 108 + 256 * 36 + 256 * (36 + 20) + 10
    nested = _tiny_model(nested=True)  # nested backbone counted too
    assert ev.model_flops(nested) == 256 * 108 + 64 * (3 * 3 * 4 * 6) + 6 * 8 + 8 * 3


def test_grad_cam_flat_and_nested():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16, 3)).astype("uint8")
    flat = _tiny_model()
    heat = ev.grad_cam(flat, img, 1)
    assert heat.shape == (8, 8) and heat.min() >= 0.0 and heat.max() <= 1.0
    nested = _tiny_model(nested=True)
    # the target is the last conv's block output (after its BatchNorm), inside the backbone
    assert ev.last_conv_layer(nested) == "b_bn"
    heat = ev.grad_cam(nested, img, 2)
    assert heat.shape == (8, 8) and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.dtype == np.float32
    heat1 = ev.grad_cam(nested, img, 0, layer_name="b_conv1")
    assert heat1.shape == (16, 16)
    # the split graph used for a nested backbone computes the model's own outputs
    path = ev._conv_path(nested, None)
    _act, probs = ev._activation_and_output(nested, path)(img[None].astype("float32"))
    np.testing.assert_allclose(np.asarray(probs), nested(img[None].astype("float32")),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(JewelNetError):
        ev.grad_cam(nested, img, 0, layer_name="nope")


def _two_patch_case():
    """An image with a red patch in the top-left quadrant and a green one in the bottom-right,
    and a fixed model whose class-1 logit is the red evidence and class-0 logit the green."""
    import keras

    img = np.zeros((16, 16, 3), dtype="uint8")
    img[1:6, 2:7, 0] = 255  # red, top-left
    img[10:15, 9:14, 1] = 255  # green, bottom-right
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")
    x = conv(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, activation="softmax", name="probs")
    model = keras.Model(inp, dense(x))
    kernel = np.zeros((1, 1, 3, 2), "float32")
    kernel[0, 0, 0, 0] = kernel[0, 0, 1, 1] = 1.0  # channel 0 = red, channel 1 = green
    conv.set_weights([kernel])
    dense.set_weights([np.array([[0.0, 20.0], [20.0, 0.0]], "float32"), np.zeros(2, "float32")])
    return model, img


def _quadrant_means(heat: np.ndarray) -> np.ndarray:
    h, w = (d // 2 for d in heat.shape)
    return np.array([[heat[:h, :w].mean(), heat[:h, w:].mean()],
                     [heat[h:, :w].mean(), heat[h:, w:].mean()]])


def test_grad_cam_peaks_where_the_evidence_for_the_class_is():
    model, img = _two_patch_case()
    red = ev.grad_cam(model, img, 1)
    green = ev.grad_cam(model, img, 0)
    assert np.unravel_index(red.argmax(), red.shape) in {(r, c) for r in range(1, 6)
                                                          for c in range(2, 7)}
    assert np.unravel_index(green.argmax(), green.shape) in {(r, c) for r in range(10, 15)
                                                              for c in range(9, 14)}
    # All the heat of each class sits in its own quadrant: nothing in the other three.
    q_red, q_green = _quadrant_means(red), _quadrant_means(green)
    assert q_red[0, 0] > 0.25 and q_red.sum() == pytest.approx(q_red[0, 0], abs=1e-6)
    assert q_green[1, 1] > 0.25 and q_green.sum() == pytest.approx(q_green[1, 1], abs=1e-6)


def test_time_inference_measures():
    t = ev.time_inference(_tiny_model(), 16, batch_size=4, repeats=2, warmup=1)
    assert set(t) == {"batch_ms_per_image", "single_ms_compiled", "single_ms_predict"}
    assert all(v > 0 for v in t.values())
    # model.predict pays its per-call setup on top of the same compiled computation.
    assert t["single_ms_predict"] > t["single_ms_compiled"]


# --------------------------------------------------------------------------------------------
# run folders and the report
# --------------------------------------------------------------------------------------------

CLASSES = ["bangle", "bracelet", "chain", "necklace"]


def _write_images(data_dir: Path, n_per_class: int = 3) -> list[tuple[str, int]]:
    from PIL import Image

    rng = np.random.default_rng(0)
    items = []
    for ci, cls in enumerate(CLASSES):
        (data_dir / cls).mkdir(parents=True, exist_ok=True)
        for j in range(n_per_class):
            rel = f"{cls}/{j:03d}.png"
            Image.fromarray(rng.integers(0, 256, (40, 40, 3)).astype("uint8")).save(
                data_dir / rel)
            items.append((rel, ci))
    return items


def make_run(root: Path, name: str, model_name: str, items, preds, seed=42, model=None,
             status="complete", data_dir="data") -> Path:
    """A finished run folder written by the artifact writers train.py uses."""
    run = root / name
    run.mkdir(parents=True)
    artifacts.write_config(run, {
        "model": model_name, "profile": {"name": "smoke"}, "seed": seed, "weights": "none",
        "data_dir": str(root / data_dir), "data_hash": "ab" * 32, "classes": CLASSES,
        "input_size": 16, "library_versions": {"keras": "3"}, "status": status})
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "stage": [1, 1, 2, 2],
                            "loss": [1.2, 0.9, 0.7, 0.6], "accuracy": [0.4, 0.6, 0.7, 0.8],
                            "val_loss": [1.3, 1.0, 0.8, 0.75],
                            "val_accuracy": [0.35, 0.55, 0.65, 0.7],
                            "learning_rate": [1e-4, 1e-4, 1e-5, 1e-5]})
    artifacts.write_history(run, history.to_dict(orient="records"))
    rng = np.random.default_rng(seed)
    probs = rng.random((len(items), len(CLASSES))) * 0.2
    probs[np.arange(len(items)), preds] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    artifacts.write_predictions(run, "test", [rel for rel, _ in items],
                                [label for _, label in items], probs, CLASSES)
    artifacts.write_timings(run, artifacts.Timings(
        feature_cache_s=0.0, stage1_s=10.0, stage2_s=20.0, train_s=30.0, checkpoint_s=0.5,
        wall_s_this_session=31.0, epochs={"stage1": 2, "stage2": 2},
        stopped_early={"stage1": False, "stage2": True}, cpu_s={"stage1": 9.0, "stage2": 18.0},
        images_per_s={}, cache_views=0, num_train=12))
    if model is not None:
        model.save(run / "model.keras")
    return run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    items = _write_images(root / "data")
    labels = [lab for _, lab in items]
    # run A confuses a bangle as bracelet and a chain as necklace; run B errs elsewhere only.
    preds_a = list(labels)
    preds_a[0], preds_a[6] = 1, 3
    preds_b = list(labels)
    preds_b[9] = 0  # necklace -> bangle
    model = _tiny_model(num_classes=4)
    run_a = make_run(root, "vgg16-smoke-s1", "vgg16", items, preds_a, seed=1, model=model)
    run_b = make_run(root, "vgg16-smoke-s2", "vgg16", items, preds_b, seed=2, model=model)
    return root, run_a, run_b


def test_load_run_reads_everything(two_runs):
    _root, run_a, _ = two_runs
    run = ev.load_run(run_a)
    assert (run.name, run.model, run.profile, run.seed, run.weights) == (
        "vgg16-smoke-s1", "vgg16", "smoke", 1, "none")
    assert run.classes == CLASSES and run.input_size == 16
    assert run.dataset.startswith("data (abab")
    y, p = run.labels()
    assert len(y) == 12 and (y != p).sum() == 2
    assert run.probs().shape == (12, 4)
    assert run.timings.train_s == 30.0


def test_load_run_errors_name_the_missing_file(tmp_path):
    with pytest.raises(JewelNetError, match="not found"):
        ev.load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(JewelNetError, match="config.json"):
        ev.load_run(tmp_path / "empty")
    items = [("bangle/000.png", 0)]
    run = make_run(tmp_path, "r1", "vgg16", items, [0])
    (run / "predictions_test.csv").unlink()
    with pytest.raises(JewelNetError, match="predictions_test.csv"):
        ev.load_run(run)
    run = make_run(tmp_path, "r2", "vgg16", items, [0])
    (run / "history.csv").unlink()
    with pytest.raises(JewelNetError, match="history.csv"):
        ev.load_run(run)
    run = make_run(tmp_path, "r3", "vgg16", items, [0], status="running")
    with pytest.raises(JewelNetError, match="incomplete"):
        ev.load_run(run)


def test_pairwise_mcnemar_aligns_by_path(two_runs):
    _root, run_a, run_b = two_runs
    ra, rb = ev.load_run(run_a), ev.load_run(run_b)
    rb.predictions["test"] = rb.predictions["test"].iloc[::-1].reset_index(drop=True)
    table = ev.pairwise_mcnemar([ra, rb])
    row = table.iloc[0]
    assert row["note"] == "aligned by path"
    assert (row["b_only_a_right"], row["c_only_b_right"]) == (1, 2)
    assert {"profile", "dataset", "weights"} <= set(table.columns)
    rb.predictions["test"] = rb.predictions["test"].iloc[:5]
    assert "not compared" in ev.pairwise_mcnemar([ra, rb]).iloc[0]["note"]


def test_pretraining_gain_pairs_runs_on_the_same_test_images(two_runs, tmp_path):
    from jewelnet_utils.report import comparison

    _root, run_a, run_b = two_runs
    pretrained, scratch = ev.load_run(run_b), ev.load_run(run_a)  # B errs once, A twice
    gain = ev.pretraining_gain([(pretrained, scratch)], seed=0)
    row = gain.iloc[0]
    assert row["model"] == "vgg16" and row["n"] == 12
    assert row["accuracy_pretrained"] == pytest.approx(11 / 12)
    assert row["accuracy_random"] == pytest.approx(10 / 12)
    assert row["gain_points"] == pytest.approx(100 / 12)
    assert (row["only_pretrained_right"], row["only_random_right"]) == (2, 1)
    assert row["ci_low_pretrained"] <= row["accuracy_pretrained"] <= row["ci_high_pretrained"]
    table = comparison.pretraining_table(gain)
    assert table.loc["VGG16", "Gain (points)"] == "+8.3"
    assert table.loc["VGG16", "Pre-training helps"] == comparison.SAME_DIRECTION  # p = 1
    other = make_run(tmp_path, "resnet50-smoke-s1", "resnet50", [("bangle/000.png", 0)], [0])
    with pytest.raises(JewelNetError, match="different models"):
        ev.pretraining_gain([(pretrained, ev.load_run(other))])
    fewer = ev.load_run(run_a)
    fewer.predictions["test"] = fewer.predictions["test"].iloc[:5]
    with pytest.raises(JewelNetError, match="not compared"):
        ev.pretraining_gain([(pretrained, fewer)])


def test_evaluate_runs_writes_every_table_and_figure(two_runs, tmp_path):
    _root, run_a, run_b = two_runs
    out = tmp_path / "reports"
    result = ev.evaluate_runs([run_a, run_b], out, n_bootstrap=100, timing_repeats=1)
    expected = ["summary.csv", "summary.json", "mcnemar.csv", "seeds.csv", "efficiency.csv",
                "calibration.json", "provenance.json", "training_curves.png", "reliability.png"]
    for name in ("vgg16-smoke-s1", "vgg16-smoke-s2"):
        expected += [f"per_class_{name}.csv", f"confusion_{name}.csv", f"confusion_{name}.png",
                     f"misclassified_{name}.png", f"gradcam_{name}.png"]
    for f in expected:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert not list(out.glob(".*"))  # no temp files left behind
    summary = pd.read_csv(out / "summary.csv")
    assert summary["Accuracy"].tolist() == pytest.approx([10 / 12, 11 / 12])
    assert (summary["Accuracy CI low"] <= summary["Accuracy"]).all()
    for table in ("summary.csv", "mcnemar.csv", "seeds.csv", "efficiency.csv",
                  "per_class_vgg16-smoke-s1.csv", "confusion_vgg16-smoke-s1.csv"):
        df = pd.read_csv(out / table)
        assert {"profile", "dataset", "weights"} <= set(df.columns), table
        assert (df["profile"] == "smoke").all()
    per_class = pd.read_csv(out / "per_class_vgg16-smoke-s1.csv")
    assert per_class["class"].tolist() == CLASSES + ["Macro Avg", "Weighted Avg"]
    seeds = pd.read_csv(out / "seeds.csv")
    assert seeds.loc[0, "n_seeds"] == 2
    eff = pd.read_csv(out / "efficiency.csv")
    assert (eff["Parameters"] > 0).all() and (eff["Train Time (min)"] == 0.5).all()
    assert (eff["Inference 1 img compiled (ms)"] > 0).all()
    assert eff.loc[0, "Thesis Parameters"] == "≈138M"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["runs"]["vgg16-smoke-s1"]["weights"] == "none"
    # run B has no bangle/bracelet or chain/necklace error: a note, not a Grad-CAM
    assert any("vgg16-smoke-s2" in n and "Grad-CAM" in n for n in result["notes"])
    cal = json.loads((out / "calibration.json").read_text())
    assert 0 <= cal["vgg16-smoke-s1"]["ece"] <= 1


def test_cli_evaluate_skips_non_runs(two_runs, tmp_path, capsys):
    from jewelnet_utils.cli import main

    root, run_a, _ = two_runs
    tuning = root / "tuning"
    tuning.mkdir(exist_ok=True)
    out = tmp_path / "rep"
    code = main(["evaluate", "--runs", str(run_a), str(tuning), "--out", str(out),
                 "--bootstrap", "50", "--no-figures", "--no-timing"])
    captured = capsys.readouterr()
    assert code == 0
    assert "skipping" in captured.err and "tuning" in captured.err
    assert (out / "summary.csv").is_file()
    assert main(["evaluate", "--runs", str(tuning), "--out", str(out)]) == 2
    assert "none of the --runs" in capsys.readouterr().err


def test_plots_image_grid_and_save(tmp_path):
    from jewelnet_utils.report import plots

    imgs = [np.zeros((8, 8, 3), np.uint8), np.ones((8, 8, 3)) * 0.5]
    fig = plots.image_grid(imgs, ["a", "b"], ncols=3, caption=plots.caption_text("cpu", "d", None))
    path = plots.save_figure(fig, tmp_path / "g.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    sheet = plots.contact_sheet({"bangle": imgs, "nose_pin": imgs[:1]}, per_class=3)
    assert [ax.get_title() for ax in sheet.axes][:4] == ["Bangle", "", "", "Nose Pin"]
    hist = plots.similarity_histogram(np.array([0.95, 0.97]), np.array([0.1, 0.5, 0.8]))
    for f, name in ((sheet, "s.png"), (hist, "h.png"), (plots.note_figure("nothing"), "n.png")):
        assert plots.save_figure(f, tmp_path / name).stat().st_size > 0
