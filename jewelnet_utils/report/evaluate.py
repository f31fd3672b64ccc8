"""Metrics, statistics, efficiency and figures over finished run folders (thesis 4.7, 5, 6.2).

Reads what ``train.py`` wrote (``config.json``, ``history.csv``, ``predictions_<split>.csv``,
``timings.json``, ``model.keras``) and writes the ``reports/`` tables and figures. Nothing here
trains. Metric functions need only NumPy/scikit-learn; Keras is imported only where a model is
loaded (efficiency, Grad-CAM), so notebooks that only tabulate stay fast.

Conventions, fixed once here:
- one-vs-rest per-class metrics from the confusion matrix; a ratio with a zero denominator
  (a class never predicted, or absent from the test set) is defined as 0, never NaN;
- "FLOPs" are multiply-accumulates, the convention that matches the thesis's Table 6.2 figure
  for VGG16 at 224 px;
- bootstrap intervals are percentile intervals over test images resampled with replacement.
"""

from __future__ import annotations

import gc
import itertools
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..contracts import artifacts, thesis
from ..contracts.config import JewelNetError
from ..contracts.decode import load_image, resize_array, thumbnail
from ..contracts.utils import (
    atomic_write_json,
    atomic_write_text,
    cpu_model,
    library_versions,
    median_ms,
)
from . import plots

# Thesis Table 5.1's test accuracy and macro F1 per model, for "ours beside theirs" columns.
THESIS_TABLE_5_1: dict[str, dict[str, float]] = {
    model: {"Accuracy": row["accuracy"], "F1": row["f1"]}
    for model, row in thesis.TABLE_5_1.values().items()}

# Thesis Table 6.2's cells as printed, per model.
THESIS_TABLE_6_2: dict[str, dict[str, str]] = {
    model: thesis.printed_cells(row, thesis.TABLE_6_2_COLUMNS)
    for model, row in thesis.TABLE_6_2.rows.items()}

# The two confusions the thesis singles out (5.6); Grad-CAM figures are made for these.
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = thesis.CLAIMS.value("confusable_pairs")

METRIC_COLUMNS = ("Accuracy", "Precision", "Recall", "F1", "FPR", "FNR")
PROVENANCE_COLUMNS = ("profile", "dataset", "weights")


# --------------------------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------------------------

@dataclass
class Run:
    """One finished training run, as read back from its folder."""

    path: Path
    name: str
    model: str
    profile: str
    seed: int
    weights: str
    dataset: str
    classes: list[str]
    history: pd.DataFrame
    predictions: dict[str, pd.DataFrame]
    timings: artifacts.Timings
    config: artifacts.RunConfig = field(repr=False)

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    @property
    def model_file(self) -> Path:
        return self.path / "model.keras"

    def labels(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """(true, predicted) class indices of ``split``."""
        df = self._split(split)
        return df["label"].to_numpy(dtype=int), df["pred"].to_numpy(dtype=int)

    def probs(self, split: str = "test") -> np.ndarray:
        """Softmax outputs of ``split`` (N x classes)."""
        return self._split(split)[[f"prob_{c}" for c in self.classes]].to_numpy(dtype=float)

    def provenance(self) -> dict[str, str]:
        return {"profile": self.profile, "dataset": self.dataset, "weights": self.weights}

    def check_split(self, split: str) -> None:
        """A clear error when the run has no predictions for ``split``."""
        self._split(split)

    def _split(self, split: str) -> pd.DataFrame:
        if split not in self.predictions:
            raise JewelNetError(f"run {self.name} has no "
                                f"{artifacts.predictions_file(self.path, split).name}")
        return self.predictions[split]


def _dataset_description(cfg: artifacts.RunConfig) -> str:
    """The data folder's name and the start of its manifest hash, e.g. "jewelsynth (3f2a...)"."""
    name = Path(cfg.data_dir).name or cfg.data_dir
    return f"{name} ({cfg.data_hash[:10]})"


def epoch_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """History rows (``TrainingRun.fit_stage``'s epochs) as a table indexed by epoch."""
    return pd.DataFrame(rows, columns=artifacts.HISTORY_COLUMNS).set_index("epoch").round(4)


def training_summary(run: Run) -> pd.DataFrame:
    """Per training stage: epochs run, whether early stopping ended it, and minutes taken,
    the part of ``timings.json`` a reader needs (the rest is for the bench)."""
    timings = run.timings
    rows = [{"stage": stage.replace("stage", "stage "), "epochs": epochs,
             "stopped early": bool(timings.stopped_early.get(stage)),
             "minutes": round(timings.stage_seconds(stage) / 60, 1)}
            for stage, epochs in timings.epochs.items()]
    return pd.DataFrame(rows).set_index("stage").rename_axis(None)


def load_run(run_dir: str | Path) -> Run:
    """Read a finished run folder; a missing or incomplete one is a clear error naming the file,
    so a report is never built from half a run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise JewelNetError(f"run folder not found: {path}")
    cfg = artifacts.read_config(path)
    if not cfg.complete:
        raise JewelNetError(f"run {path.name} is incomplete: {artifacts.config_file(path)} has "
                            f"status {cfg.status!r} (finish it with `jewelnet train --resume`)")
    # A split without images has no predictions file (train.py writes none for it).
    predictions = {split: artifacts.read_predictions(path, split, cfg.classes)
                   for split in ("test", "val")
                   if split == "test" or artifacts.predictions_file(path, split).is_file()}
    return Run(path=path, name=path.name, model=cfg.model, profile=cfg.profile_name,
               seed=cfg.seed, weights=cfg.weights, dataset=_dataset_description(cfg),
               classes=list(cfg.classes), history=artifacts.read_history(path),
               predictions=predictions, timings=artifacts.read_timings(path), config=cfg)


def _register_custom_objects() -> None:
    """Import the modules that register custom layers, so ``load_model`` can rebuild them."""
    # Both import Keras, so they are loaded here, when a model is, not with this module:
    # augment's layers (all models) and models' BackbonePreprocess (VGG16 and ResNet50).
    from ..run import models  # noqa: F401
    from ..split import augment  # noqa: F401


def load_model_file(path: str | Path) -> Any:
    """Load a ``.keras`` file for inference (no optimizer), with a clear error naming it."""
    path = Path(path)
    if not path.is_file():
        raise JewelNetError(f"model file not found: {path}")
    _register_custom_objects()
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a broken/foreign file
        raise JewelNetError(f"cannot load model {path}: {err}") from err


def load_run_model(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """(model, config) of a run: all that ``predict`` and ``recommend`` need."""
    path = Path(run_dir)
    if not path.is_dir():
        raise JewelNetError(f"run folder not found: {path}")
    cfg = artifacts.read_config(path)
    return load_model_file(path / "model.keras"), cfg.fields


# --------------------------------------------------------------------------------------------
# Metrics (thesis 4.7)
# --------------------------------------------------------------------------------------------

def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with 0 where den is 0: a defined value for a class never predicted or absent."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """C x C counts, rows true, columns predicted, every class present even if unused."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def per_class_metrics(y_true: Sequence[int], y_pred: Sequence[int],
                      classes: Sequence[str]) -> pd.DataFrame:
    """Tables 5.2/5.3: one-vs-rest Accuracy, Precision, Recall, F1, FPR, FNR and Support per
    class, then 'Macro Avg' (classes equal) and 'Weighted Avg' (by support) rows."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    n_classes = len(classes)
    labels = list(range(n_classes))
    cm = confusion(y_true, y_pred, n_classes)
    n = cm.sum()
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = n - tp - fp - fn
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    table = pd.DataFrame({
        "class": list(classes),
        "Accuracy": _ratio(tp + tn, np.full(n_classes, n)),
        "Precision": precision,
        "Recall": recall,
        "F1": f1,
        "FPR": _ratio(fp, fp + tn),
        "FNR": _ratio(fn, fn + tp),
        "Support": support.astype(int),
    })
    metrics = list(METRIC_COLUMNS)
    macro = table[metrics].mean(axis=0)
    total = int(support.sum())
    weights = support / total if total else np.full(n_classes, 1.0 / n_classes)
    weighted = (table[metrics].mul(weights, axis=0)).sum(axis=0)
    rows = pd.DataFrame([{"class": "Macro Avg", **macro.to_dict(), "Support": total},
                         {"class": "Weighted Avg", **weighted.to_dict(), "Support": total}])
    return pd.concat([table, rows], ignore_index=True)


def summary_row(y_true: Sequence[int], y_pred: Sequence[int],
                classes: Sequence[str]) -> dict[str, float]:
    """Table 5.1: overall accuracy and the macro-averaged Precision, Recall, F1, FPR, FNR."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    macro = per_class_metrics(y_true, y_pred, classes).set_index("class").loc["Macro Avg"]
    row = {m: float(macro[m]) for m in METRIC_COLUMNS}
    row["Accuracy"] = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    return row


# A model that gives one class to this share of the test images has stopped discriminating.
ONE_CLASS_SHARE = 0.9
# Significance level of the one-sided binomial test of accuracy against chance (1 / classes).
CHANCE_ALPHA = 0.01


def model_warnings(y_true: Sequence[int], y_pred: Sequence[int],
                   classes: Sequence[str]) -> list[str]:
    """Reasons why a model's numbers must not be read as findings: it predicts (nearly) one
    class, or its accuracy is not distinguishable from guessing. Empty for a healthy model."""
    from scipy.stats import binomtest

    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return []
    warnings = []
    counts = np.bincount(y_pred, minlength=len(classes))
    top = int(counts.argmax())
    if counts[top] / len(y_pred) >= ONE_CLASS_SHARE:
        warnings.append(f"predicts {classes[top]!r} for {counts[top] / len(y_pred):.0%} "
                        "of the images")
    correct = int(np.sum(y_true == y_pred))
    chance = 1.0 / len(classes)
    p_value = binomtest(correct, len(y_true), chance, alternative="greater").pvalue
    if p_value >= CHANCE_ALPHA:
        warnings.append(f"accuracy {correct / len(y_true):.1%} is not above chance "
                        f"({chance:.1%}) at the {CHANCE_ALPHA:g} level (p = {p_value:.2g})")
    return warnings


# --------------------------------------------------------------------------------------------
# Uncertainty: bootstrap, McNemar, seeds
# --------------------------------------------------------------------------------------------

class Interval(NamedTuple):
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float


def _macro_f1_batch(t: np.ndarray, p: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 of each row of (B, n) label arrays, over the classes present in that row (as
    scikit-learn does with default labels), with bincount instead of a Python loop."""
    b = t.shape[0]
    offset = (np.arange(b) * n_classes)[:, None]
    size = b * n_classes
    tp = np.bincount((offset + t)[t == p], minlength=size).reshape(b, n_classes)
    n_true = np.bincount((offset + t).ravel(), minlength=size).reshape(b, n_classes)
    n_pred = np.bincount((offset + p).ravel(), minlength=size).reshape(b, n_classes)
    denom = n_true + n_pred
    present = denom > 0
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(tp.shape), where=present)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int],
                 metric: str | Callable[[np.ndarray, np.ndarray], float] = "accuracy",
                 n_resamples: int = 1000, seed: int = 42, level: float = 0.95,
                 n_classes: int | None = None, chunk: int = 256) -> Interval:
    """Percentile interval of ``metric`` ('accuracy', 'macro_f1' or a callable) over test sets
    resampled with replacement: how much the number would move with another test set of the
    same size. Deterministic for a seed."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    n = len(y_true)
    if n == 0 or len(y_pred) != n:
        raise JewelNetError("bootstrap_ci needs equally long, non-empty label arrays")
    n_classes = n_classes or int(max(y_true.max(), y_pred.max()) + 1)
    rng = np.random.default_rng(seed)
    if metric == "accuracy":
        correct = (y_true == y_pred).astype(float)
        estimate = float(correct.mean())

        def batch(idx: np.ndarray) -> np.ndarray:
            return correct[idx].mean(axis=1)
    elif metric in ("macro_f1", "f1"):
        estimate = float(_macro_f1_batch(y_true[None], y_pred[None], n_classes)[0])

        def batch(idx: np.ndarray) -> np.ndarray:
            return _macro_f1_batch(y_true[idx], y_pred[idx], n_classes)
    elif callable(metric):
        func = metric
        estimate = float(func(y_true, y_pred))

        def batch(idx: np.ndarray) -> np.ndarray:
            return np.array([func(y_true[i], y_pred[i]) for i in idx])
    else:
        raise JewelNetError(f"unknown bootstrap metric {metric!r}; use accuracy or macro_f1")
    stats: list[np.ndarray] = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        stats.append(batch(idx))
    values = np.concatenate(stats)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high))


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact McNemar test on paired correctness: (b = only A right, c = only B right, two-sided
    binomial p). Accuracy differences of a few test images are often chance; this says which."""
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise JewelNetError("McNemar needs both models' results on the same test images")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return b, c, p


def _joined(a: str, b: str) -> str:
    return a if a == b else f"{a} / {b}"


def pairwise_mcnemar(runs: Sequence[Run], split: str = "test") -> pd.DataFrame:
    """McNemar for every pair of runs, after checking they scored the same images; rows in the
    same order are compared directly, the same set in another order is aligned by path."""
    rows = []
    for ra, rb in itertools.combinations(runs, 2):
        da, db = ra.predictions[split], rb.predictions[split]
        row: dict[str, Any] = {"run_a": ra.name, "run_b": rb.name, "model_a": ra.model,
                               "model_b": rb.model, "n": len(da), "b_only_a_right": np.nan,
                               "c_only_b_right": np.nan, "p_value": np.nan,
                               "accuracy_a": np.nan, "accuracy_b": np.nan, "note": ""}
        same_order = list(da["path"]) == list(db["path"])
        if ra.classes != rb.classes:
            row["note"] = "different class lists; not compared"
        elif not same_order:
            if (set(da["path"]) == set(db["path"]) and not da["path"].duplicated().any()
                    and not db["path"].duplicated().any()):
                db = db.set_index("path").loc[list(da["path"])].reset_index()
                row["note"] = "aligned by path"
            else:
                row["note"] = "different test images; not compared"
        if not row["note"].endswith("not compared"):
            if not np.array_equal(da["label"].to_numpy(), db["label"].to_numpy()):
                row["note"] = "same images but different labels; not compared"
            else:
                ca = (da["label"] == da["pred"]).to_numpy()
                cb = (db["label"] == db["pred"]).to_numpy()
                b, c, p = mcnemar_exact(ca, cb)
                row.update(b_only_a_right=b, c_only_b_right=c, p_value=p,
                           accuracy_a=float(ca.mean()), accuracy_b=float(cb.mean()))
        row.update(profile=_joined(ra.profile, rb.profile),
                   dataset=_joined(ra.dataset, rb.dataset),
                   weights=_joined(ra.weights, rb.weights))
        rows.append(row)
    columns = ["run_a", "run_b", "model_a", "model_b", "n", "b_only_a_right", "c_only_b_right",
               "p_value", "accuracy_a", "accuracy_b", "note", *PROVENANCE_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def pretraining_gain(pairs: Sequence[tuple[Run, Run]], seed: int = 42) -> pd.DataFrame:
    """What pre-training buys: per (pretrained run, random-init run) pair of one model, both
    test accuracies with 95 % bootstrap intervals, the gain in points and the exact McNemar
    test on the same test images (a pair scored on other images is refused in one line)."""
    rows = []
    for pretrained, scratch in pairs:
        if pretrained.model != scratch.model:
            raise JewelNetError(f"{pretrained.name} and {scratch.name} are different models")
        test = pairwise_mcnemar([pretrained, scratch]).iloc[0]
        if test["note"].endswith("not compared"):
            raise JewelNetError(f"{pretrained.path} and {scratch.path}: {test['note']}")
        row: dict[str, Any] = {"model": pretrained.model, "weights": pretrained.weights,
                               "n": int(test["n"])}
        for key, run in (("pretrained", pretrained), ("random", scratch)):
            ci = bootstrap_ci(*run.labels("test"), seed=seed)
            row.update({f"accuracy_{key}": ci.estimate, f"ci_low_{key}": ci.low,
                        f"ci_high_{key}": ci.high})
        row.update(gain_points=100 * (row["accuracy_pretrained"] - row["accuracy_random"]),
                   only_pretrained_right=int(test["b_only_a_right"]),
                   only_random_right=int(test["c_only_b_right"]), p_value=float(test["p_value"]))
        rows.append(row)
    return pd.DataFrame(rows)


def seeds_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each model (same profile, dataset, weights):
    the spread a single-seed table like 5.1 hides. std is NaN for a single seed."""
    keys = ["model", *PROVENANCE_COLUMNS]
    rows = []
    for key, group in summary.groupby(keys, sort=False):
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(s) for s in group["seed"])
        for m in METRIC_COLUMNS:
            vals = group[m].to_numpy(dtype=float)
            row[f"{m} mean"] = float(vals.mean())
            row[f"{m} std"] = float(vals.std(ddof=1)) if len(vals) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------

def reliability_data(probs: np.ndarray, y_true: Sequence[int], n_bins: int = 15) -> dict[str, Any]:
    """Per confidence bin (equal width, right-closed): count, mean confidence, accuracy."""
    probs = np.asarray(probs, dtype=float)
    y_true = np.asarray(y_true, dtype=int)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct.astype(float), minlength=n_bins)
    return {
        "edges": edges.tolist(),
        "count": count.astype(int).tolist(),
        "confidence": [float(s / k) if k else None for s, k in zip(conf_sum, count, strict=True)],
        "accuracy": [float(s / k) if k else None for s, k in zip(acc_sum, count, strict=True)],
    }


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int],
                               n_bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over bins (Guo et al.
    2017). A 95 % accurate model that says 99.9 % is overconfident; this measures by how much."""
    rel = reliability_data(probs, y_true, n_bins)
    n = sum(rel["count"])
    if n == 0:
        return 0.0
    return float(sum(k * abs(a - c) for k, a, c in
                     zip(rel["count"], rel["accuracy"], rel["confidence"], strict=True) if k) / n)


def calibration_report(probs: np.ndarray, y_true: Sequence[int],
                       n_bins: int = 15) -> dict[str, Any]:
    """ECE, maximum calibration error, Brier score and NLL plus the reliability bins."""
    probs = np.asarray(probs, dtype=float)
    y_true = np.asarray(y_true, dtype=int)
    rel = reliability_data(probs, y_true, n_bins)
    gaps = [abs(a - c) for k, a, c in
            zip(rel["count"], rel["accuracy"], rel["confidence"], strict=True) if k]
    onehot = np.eye(probs.shape[1])[y_true]
    p_true = np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    return {
        "ece": expected_calibration_error(probs, y_true, n_bins),
        "mce": float(max(gaps)) if gaps else 0.0,
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
        "nll": float(-np.mean(np.log(p_true))),
        "n_bins": n_bins,
        "reliability": rel,
    }


# --------------------------------------------------------------------------------------------
# Efficiency (Table 6.2)
# --------------------------------------------------------------------------------------------

def compiled_call(model: Any) -> Callable[[np.ndarray], Any]:
    """The model's forward pass compiled for the backend (tf.function / jax.jit), the way a
    serving process would call it, instead of ``model.predict``'s per-call setup."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return lambda x: fn(tf.convert_to_tensor(x))
    if backend == "jax":
        import jax

        # Weights go in as arguments, not closure constants (XLA would bake them in), and are
        # read at each call: model.predict donates its state buffers, so arrays captured once
        # may already be deleted.
        jitted = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
        return lambda x: jitted([v.value for v in model.trainable_variables],
                                [v.value for v in model.non_trainable_variables], x)
    return lambda x: model(x, training=False)


def time_inference(model: Any, input_size: int, batch_size: int = 32, repeats: int = 10,
                   warmup: int = 2, seed: int = 0, budget_s: float = 20.0) -> dict[str, float]:
    """Measured latency, median of ``repeats`` after ``warmup`` calls: per image within a batch
    of ``batch_size``, one image through the compiled call (how a server would run it), and
    one image through ``model.predict`` (what naive code does; its per-call setup dominates)."""
    import keras

    rng = np.random.default_rng(seed)
    x_batch = rng.uniform(0, 255, (batch_size, input_size, input_size, 3)).astype("float32")
    x_one = x_batch[:1]
    call = compiled_call(model)

    def run(x: np.ndarray) -> Any:
        return keras.ops.convert_to_numpy(call(x))  # materialise: no async timing

    for _ in range(max(1, warmup)):
        run(x_batch)
        run(x_one)
        model.predict(x_one, verbose=0)
    return {
        "batch_ms_per_image": median_ms(lambda: run(x_batch), repeats, budget_s) / batch_size,
        "single_ms_compiled": median_ms(lambda: run(x_one), repeats, budget_s),
        "single_ms_predict": median_ms(lambda: model.predict(x_one, verbose=0), repeats,
                                        budget_s),
    }


def device_description() -> str:
    """What the latencies were measured on: accelerator or CPU model, backend, CPU threads."""
    import os

    import keras

    backend = keras.backend.backend()
    accel = ""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                accel = tf.config.experimental.get_device_details(gpus[0]).get("device_name",
                                                                               "GPU")
        elif backend == "jax":
            import jax

            dev = jax.devices()[0]
            accel = dev.device_kind if dev.platform != "cpu" else ""
    except Exception:  # device queries are best effort; never fail a report over them
        accel = ""
    cpu = cpu_model() or platform.processor() or platform.machine()
    return f"{accel or cpu} ({backend}, {os.cpu_count()} CPU threads)"


def thesis_efficiency_claims(model: str) -> dict[str, str]:
    """Table 6.2's row for ``model``, each cell as the thesis prints it (empty for a model the
    thesis does not list)."""
    return dict(THESIS_TABLE_6_2.get(model, {}))


def model_flops(model: Any) -> int:
    """Multiply-accumulates of one forward pass, counted by :func:`models.flops`."""
    # models imports Keras; importing it here keeps the table-only uses of evaluate Keras-free.
    from ..run.models import flops

    return int(flops(model))


def efficiency_row(run: Run, model: Any | None = None, timing: bool = True,
                   repeats: int = 10, batch_size: int = 32) -> dict[str, Any]:
    """One Table 6.2 row, every number measured here, the thesis's claims beside it."""
    claims = thesis_efficiency_claims(run.model)
    size = run.input_size
    row: dict[str, Any] = {
        "Model": run.model, "run": run.name,
        "Parameters": np.nan, "Input Size": f"{size} × {size}" if size else "?",
        "FLOPs (G)": np.nan,
        "Model File (MB)": (run.model_file.stat().st_size / 1e6
                            if run.model_file.is_file() else np.nan),
        "Train Time (min)": run.timings.train_s / 60.0,
        f"Inference batch{batch_size} (ms/img)": np.nan,
        "Inference 1 img compiled (ms)": np.nan,
        "Inference 1 img predict (ms)": np.nan,
        "Thesis Parameters": claims.get("Parameters", ""),
        "Thesis Input Size": claims.get("Input Size", ""),
        "Thesis FLOPs": claims.get("FLOPs", ""),
        "Thesis Train Time": claims.get("Train Time", ""),
        "Thesis Inference": claims.get("Inference", ""),
        "device": device_description() if timing else "",
        "note": "",
        **run.provenance(),
    }
    if model is None:
        row["note"] = (f"{run.model_file.name} could not be loaded" if run.model_file.is_file()
                       else f"no model file ({run.model_file.name})")
        return row
    row["Parameters"] = int(model.count_params())
    row["FLOPs (G)"] = model_flops(model) / 1e9
    if timing and size:
        t = time_inference(model, size, batch_size=batch_size, repeats=repeats)
        row[f"Inference batch{batch_size} (ms/img)"] = t["batch_ms_per_image"]
        row["Inference 1 img compiled (ms)"] = t["single_ms_compiled"]
        row["Inference 1 img predict (ms)"] = t["single_ms_predict"]
    return row


def efficiency_table(runs: Sequence[Run], timing: bool = True, repeats: int = 10,
                     batch_size: int = 32) -> pd.DataFrame:
    """Table 6.2 over ``runs``, loading one model at a time to bound memory."""
    rows = []
    for run in runs:
        model = load_model_file(run.model_file) if run.model_file.is_file() else None
        rows.append(efficiency_row(run, model, timing=timing, repeats=repeats,
                                   batch_size=batch_size))
        del model
        gc.collect()
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Grad-CAM
# --------------------------------------------------------------------------------------------

def _is_conv(layer: Any) -> bool:
    import keras

    L = keras.layers
    return isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D))


def _spatial_shape(layer: Any) -> tuple[Any, ...] | None:
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None
    return shape[1:3] if len(shape) == 4 else None


def _block_output(layers: Sequence[Any], i: int) -> Any:
    """The last layer after ``layers[i]`` (a conv) still at its spatial resolution: its
    BatchNorm/activation/residual add, i.e. the feature map the head actually sees
    (conv5_block3_out in ResNet50, top_activation in EfficientNet; VGG16's block5_conv3)."""
    grid = _spatial_shape(layers[i])
    chosen = layers[i]
    for layer in layers[i + 1:]:
        if grid is None or _spatial_shape(layer) != grid:
            break
        chosen = layer
    return chosen


def _conv_path(model: Any, layer_name: str | None) -> list[Any]:
    """Layers from ``model`` down to the Grad-CAM target, descending into nested models: the
    named layer, or the output of the last convolution's block."""
    layers = list(model.layers)
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if layer_name is not None and layer.name == layer_name:
            return [layer]
        if hasattr(layer, "layers") and layer.layers:
            sub = _conv_path(layer, layer_name)
            if sub:
                return [layer, *sub]
        elif layer_name is None and _is_conv(layer):
            return [_block_output(layers, i)]
    return []


def _single(tensors: Any) -> Any:
    return tensors[0] if isinstance(tensors, (list, tuple)) else tensors


def _activation_and_output(model: Any, path: list[Any]) -> Callable[[Any], tuple[Any, Any]]:
    """A callable x -> (target activation, class probabilities). A conv layer inside a nested
    backbone is not reachable from the outer graph, so the outer model is split around the
    backbone's call: pre-processing, the backbone (recursively), and the head."""
    import keras

    if len(path) == 1:
        grad_model = keras.Model(_single(model.inputs), [path[0].output, _single(model.outputs)])
        return lambda x: tuple(grad_model(x, training=False))
    sub = path[0]
    inner = _activation_and_output(sub, path[1:])
    nodes = getattr(sub, "_inbound_nodes", [])
    if len(nodes) != 1:
        raise JewelNetError(f"Grad-CAM: nested model {sub.name!r} is called {len(nodes)} times; "
                            "pass layer_name of a layer in the outer model")
    sub_in = _single(nodes[0].input_tensors)
    sub_out = _single(nodes[0].output_tensors)
    outer_in = _single(model.inputs)
    pre = None if sub_in is outer_in else keras.Model(outer_in, sub_in)
    post = keras.Model(sub_out, _single(model.outputs))

    def fn(x: Any) -> tuple[Any, Any]:
        h = x if pre is None else pre(x, training=False)
        act, feats = inner(h)
        return act, post(feats, training=False)

    return fn


def last_conv_layer(model: Any) -> str:
    """Name of the Grad-CAM target layer: the output of the last convolution's block, looking
    inside nested backbones too."""
    path = _conv_path(model, None)
    if not path:
        raise JewelNetError("Grad-CAM: the model has no convolution layer")
    return path[-1].name


def grad_cam(model: Any, image: np.ndarray, class_index: int,
             layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap (Selvaraju et al. 2017) of ``class_index`` at the last conv layer (or
    ``layer_name``), shaped like that layer's spatial grid, scaled to [0, 1]. Shows which
    regions drove a decision, e.g. whether a bangle/bracelet error looked at the clasp."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise JewelNetError("Grad-CAM needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    import tensorflow as tf

    path = _conv_path(model, layer_name)
    if not path:
        raise JewelNetError(f"Grad-CAM: no layer named {layer_name!r}" if layer_name
                            else "Grad-CAM: the model has no convolution layer")
    fn = _activation_and_output(model, path)
    img = np.asarray(image, dtype="float32")
    if img.ndim == 4:
        img = img[0]
    in_shape = tuple(_single(model.inputs).shape[1:3])
    if all(d is not None for d in in_shape):
        img = resize_array(img, in_shape)  # type: ignore[arg-type]
    x = tf.convert_to_tensor(img[None])
    with tf.GradientTape() as tape:
        act, probs = fn(x)
        score = probs[:, class_index]
    grads = tape.gradient(score, act)
    if grads is None:
        raise JewelNetError(f"Grad-CAM: no gradient reaches layer {path[-1].name!r}")
    act_np = act.numpy()[0]
    weights = grads.numpy()[0].mean(axis=(0, 1))
    cam = np.maximum(np.tensordot(act_np, weights, axes=([2], [0])), 0.0)
    peak = cam.max()
    return (cam / peak if peak > 0 else np.zeros_like(cam)).astype("float32")


# --------------------------------------------------------------------------------------------
# Images for figures
# --------------------------------------------------------------------------------------------

def resolve_image(run: Run, rel: str) -> Path:
    """Where a prediction's image lives: as given, under the run's data_dir, or under the
    data_dir seen from the project root (the run folder's grandparent)."""
    p = Path(rel)
    if p.is_absolute() or run.data_dir is None:
        return p
    candidates = [run.data_dir / p, run.path.parent.parent / run.data_dir / p, p]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_csv(path: Path, df: pd.DataFrame, files: list[Path]) -> None:
    files.append(atomic_write_text(path, df.to_csv(index=False)))


def _with_provenance(df: pd.DataFrame, run: Run) -> pd.DataFrame:
    df = df.copy()
    for k, v in run.provenance().items():
        df[k] = v
    return df


def _caption(run: Run | None, runs: Sequence[Run] = ()) -> str:
    if run is not None:
        return plots.caption_text(run.profile, run.dataset, run.weights, extra=run.name)
    vals = {k: sorted({getattr(r, k) for r in runs}) for k in PROVENANCE_COLUMNS}
    return plots.caption_text(*(", ".join(vals[k]) for k in PROVENANCE_COLUMNS))


def _error_images(run: Run, split: str, pairs: Sequence[tuple[str, str]] | None,
                  limit: int) -> pd.DataFrame:
    df = run.predictions[split].reset_index(drop=True)  # row number = row of probs
    errors = df[df["label"] != df["pred"]].copy()
    if pairs is not None:
        idx = {c: i for i, c in enumerate(run.classes)}
        wanted = {frozenset((idx[a], idx[b])) for a, b in pairs if a in idx and b in idx}
        keep = [frozenset((t, p)) in wanted for t, p in zip(errors["label"], errors["pred"],
                                                             strict=True)]
        errors = errors[np.asarray(keep, dtype=bool)]
    probs = run.probs(split)
    errors["confidence"] = probs[errors.index.to_numpy(), errors["pred"].to_numpy()]
    errors = errors.sort_values("confidence", ascending=False, kind="stable")
    return errors.head(limit)


def _misclassified_figure(run: Run, split: str, limit: int = 12) -> tuple[Any, str | None]:
    errors = _error_images(run, split, None, limit)
    if errors.empty:
        return None, f"{run.name}: no misclassified {split} images"
    images, true, pred, conf = [], [], [], []
    for _, row in errors.iterrows():
        images.append(thumbnail(load_image(resolve_image(run, row["path"]))))
        true.append(run.classes[row["label"]])
        pred.append(run.classes[row["pred"]])
        conf.append(float(row["confidence"]))
    fig = plots.misclassified(images, true, pred, conf,
                              title=f"Misclassified {split} images: {run.name}",
                              caption=_caption(run))
    return fig, None


def _gradcam_figure(run: Run, model: Any, split: str, limit: int = 6) -> tuple[Any, str | None]:
    errors = _error_images(run, split, CONFUSABLE_PAIRS, limit)
    if errors.empty:
        names = " or ".join(f"{a}/{b}" for a, b in CONFUSABLE_PAIRS)
        return None, f"{run.name}: no {names} confusions in {split}; no Grad-CAM figure"
    images, heatmaps, titles = [], [], []
    for _, row in errors.iterrows():
        img = load_image(resolve_image(run, row["path"]))
        shown = resize_array(img, (run.input_size, run.input_size)) if run.input_size else img
        heatmaps.append(grad_cam(model, shown, int(row["pred"])))
        images.append(thumbnail(img))  # the photo as taken; the heatmap is stretched onto it
        titles.append(f"true {plots.display_name(run.classes[row['label']])}\n"
                      f"pred {plots.display_name(run.classes[row['pred']])}")
    fig = plots.gradcam_grid(images, heatmaps, titles,
                             title=f"Grad-CAM of bangle/bracelet and chain/necklace errors: "
                                   f"{run.name}", caption=_caption(run))
    return fig, None


@dataclass
class _Report:
    """Where a report goes, and what writing it produced so far."""

    out: Path
    split: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def csv(self, name: str, df: pd.DataFrame) -> None:
        _write_csv(self.out / name, df, self.files)

    def json(self, name: str, obj: Any) -> None:
        self.files.append(atomic_write_json(self.out / name, _jsonable(obj)))

    def figure(self, name: str, fig: Any) -> None:
        self.files.append(plots.save_figure(fig, self.out / name))


def _accuracy_row(report: _Report, r: Run, n_bootstrap: int, seed: int, level: float,
                  n_bins: int, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Table 5.1's row for one run (with bootstrap intervals and ECE). Writes its Table 5.2/5.3
    and confusion CSVs and adds them to ``tables``, with its calibration report unless the
    model is degenerate."""
    split = report.split
    y_true, y_pred = r.labels(split)
    k = len(r.classes)
    tables["per_class"][r.name] = per_class_metrics(y_true, y_pred, r.classes)
    report.csv(f"per_class_{r.name}.csv", _with_provenance(tables["per_class"][r.name], r))
    tables["confusions"][r.name] = confusion(y_true, y_pred, k)
    cm = pd.DataFrame(tables["confusions"][r.name], columns=r.classes)
    cm.insert(0, "true", r.classes)
    report.csv(f"confusion_{r.name}.csv", _with_provenance(cm, r))
    acc = bootstrap_ci(y_true, y_pred, "accuracy", n_bootstrap, seed, level, k)
    f1 = bootstrap_ci(y_true, y_pred, "macro_f1", n_bootstrap, seed, level, k)
    row: dict[str, Any] = {"run": r.name, "model": r.model, "seed": r.seed, "split": split,
                           "n": len(y_true), **summary_row(y_true, y_pred, r.classes),
                           "Accuracy CI low": acc.low, "Accuracy CI high": acc.high,
                           "F1 CI low": f1.low, "F1 CI high": f1.high, "ECE": np.nan}
    row["Warning"] = "; ".join(model_warnings(y_true, y_pred, r.classes))
    if row["Warning"]:
        # A constant or chance-level model can look "well calibrated"; its ECE is no finding.
        report.notes.append(f"{r.name}: {row['Warning']}; calibration and Grad-CAM not "
                            "reported")
    else:
        tables["calibration"][r.name] = calibration_report(r.probs(split), y_true, n_bins)
        row["ECE"] = tables["calibration"][r.name]["ece"]
    thesis_row = THESIS_TABLE_5_1.get(r.model, {})
    row["Thesis Accuracy"] = thesis_row.get("Accuracy", np.nan)
    row["Thesis F1"] = thesis_row.get("F1", np.nan)
    return {**row, **r.provenance()}


def _accuracy_tables(report: _Report, runs: Sequence[Run], n_bootstrap: int, seed: int,
                     level: float, n_bins: int) -> dict[str, Any]:
    """Tables 5.1-5.3, McNemar, seeds and calibration, written as CSV/JSON."""
    tables: dict[str, Any] = {"per_class": {}, "confusions": {}, "calibration": {}}
    summary = pd.DataFrame([_accuracy_row(report, r, n_bootstrap, seed, level, n_bins, tables)
                            for r in runs])
    report.csv("summary.csv", summary)
    report.json("summary.json", {
        "split": report.split, "bootstrap": {"n_resamples": n_bootstrap, "seed": seed,
                                             "level": level, "method": "percentile"},
        "rows": summary.to_dict(orient="records")})
    mcnemar = pairwise_mcnemar(runs, report.split)
    report.csv("mcnemar.csv", mcnemar)
    seeds = seeds_table(summary)
    report.csv("seeds.csv", seeds)
    provenance = {r.name: r.provenance() for r in runs}
    report.json("calibration.json", {name: {**rep, **provenance[name]}
                                     for name, rep in tables["calibration"].items()})
    return {**tables, "summary": summary, "mcnemar": mcnemar, "seeds": seeds}


def _load_for_report(report: _Report, r: Run) -> Any | None:
    """The run's model, or None with a note (one broken model must not sink the report)."""
    if not r.model_file.is_file():
        report.notes.append(f"{r.name}: {r.model_file} missing; efficiency and Grad-CAM "
                            "skipped")
        return None
    try:
        return load_model_file(r.model_file)
    except JewelNetError as err:
        report.notes.append(f"{r.name}: {err}; efficiency and Grad-CAM skipped")
        return None


def _gradcam_page(report: _Report, r: Run, model: Any, warning: str) -> None:
    """Grad-CAM of the run's confusable-pair errors, or a figure saying why there is none."""
    try:
        fig, note = ((None, f"{r.name}: no Grad-CAM figure: {warning}") if warning
                     else _gradcam_figure(r, model, report.split))
    except JewelNetError as err:
        fig, note = None, f"{r.name}: Grad-CAM skipped: {err}"
    if fig is None:
        fig = plots.note_figure(note or "", title=f"Grad-CAM: {r.name}", caption=_caption(r))
    report.figure(f"gradcam_{r.name}.png", fig)
    if note:
        report.notes.append(note)


def _efficiency(report: _Report, runs: Sequence[Run], warnings: Mapping[str, str],
                figures: bool, timing: bool, timing_repeats: int) -> pd.DataFrame:
    """Table 6.2 and the Grad-CAM figures, one model in memory at a time."""
    rows = []
    for r in runs:
        model = _load_for_report(report, r)
        rows.append(efficiency_row(r, model, timing=timing, repeats=timing_repeats))
        if figures and model is not None:
            _gradcam_page(report, r, model, warnings[r.name])
        del model
        gc.collect()
    efficiency = pd.DataFrame(rows)
    report.csv("efficiency.csv", efficiency)
    return efficiency


def _figures(report: _Report, runs: Sequence[Run], calibration: Mapping[str, Any]) -> None:
    """Confusion matrices, misclassified galleries, training curves, reliability diagram."""
    split = report.split
    for r in runs:
        y_true, y_pred = r.labels(split)
        report.figure(f"confusion_{r.name}.png", plots.confusion_matrix(
            confusion(y_true, y_pred, len(r.classes)), r.classes,
            title=f"Confusion matrix ({split}): {r.name}", caption=_caption(r)))
        try:
            fig, note = _misclassified_figure(r, split)
        except JewelNetError as err:
            fig, note = None, f"{r.name}: misclassified gallery skipped: {err}"
        if note:
            report.notes.append(note)
        if fig is not None:
            report.figure(f"misclassified_{r.name}.png", fig)
    report.figure("training_curves.png", plots.training_curves(
        {r.name: r.history for r in runs}, caption=_caption(None, runs)))
    if calibration:
        report.figure("reliability.png", plots.reliability_diagram(
            {n: {**c["reliability"], "ece": c["ece"]} for n, c in calibration.items()},
            caption=_caption(None, runs)))


def _run_provenance(r: Run) -> dict[str, Any]:
    return {"path": str(r.path), "model": r.model, "seed": r.seed, **r.provenance(),
            "data_dir": r.config.data_dir, "data_hash": r.config.data_hash,
            "input_size": r.input_size, "classes": r.classes,
            "library_versions": r.config.library_versions}


def evaluate_runs(run_dirs: Sequence[str | Path | Run], out_dir: str | Path, seed: int = 42,
                  n_bootstrap: int = 1000, figures: bool = True, timing: bool = True,
                  timing_repeats: int = 10, split: str = "test", n_bins: int = 15,
                  level: float = 0.95) -> dict[str, Any]:
    """Every table and figure of the evaluation chapter for ``run_dirs``, written atomically
    under ``out_dir``. Returns the tables, the files written and notes on what was skipped."""
    runs = [r if isinstance(r, Run) else load_run(r) for r in run_dirs]
    if not runs:
        raise JewelNetError("no run folders to evaluate")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise JewelNetError(f"two runs share a folder name: {names}")
    for r in runs:
        r.check_split(split)
    report = _Report(Path(out_dir), split)
    tables = _accuracy_tables(report, runs, n_bootstrap, seed, level, n_bins)
    warnings = dict(zip(tables["summary"]["run"], tables["summary"]["Warning"], strict=True))
    tables["efficiency"] = _efficiency(report, runs, warnings, figures, timing, timing_repeats)
    if figures:
        _figures(report, runs, tables["calibration"])
    report.json("provenance.json", {
        "split": split,
        "runs": {r.name: _run_provenance(r) for r in runs},
        "evaluation": {"seed": seed, "n_bootstrap": n_bootstrap, "level": level,
                       "n_bins": n_bins, "timing": timing, "timing_repeats": timing_repeats,
                       "library_versions": library_versions()},
        "notes": report.notes,
    })
    return {**tables, "files": report.files, "notes": report.notes}


__all__ = [
    "CONFUSABLE_PAIRS", "Interval", "Run", "THESIS_TABLE_5_1", "THESIS_TABLE_6_2",
    "bootstrap_ci", "calibration_report", "compiled_call", "confusion",
    "efficiency_row", "efficiency_table", "epoch_table", "evaluate_runs",
    "expected_calibration_error",
    "grad_cam", "last_conv_layer", "load_model_file", "load_run", "load_run_model",
    "mcnemar_exact", "model_flops", "pairwise_mcnemar", "per_class_metrics", "reliability_data",
    "resolve_image", "seeds_table", "summary_row", "time_inference",
]
