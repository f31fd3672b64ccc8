"""Hyperparameter search with KerasTuner, closing the loop into ``jewelnet train --hparams``.

The thesis fixed learning rate, batch size and epochs by hand (Table 4.4). Here one
:class:`JewelHyperModel` per architecture searches them together with the head's widths,
dropout, L2 strength, the fine-tuning depth of transfer models and the augmentation strength,
using :func:`models.build_model` and :func:`pipeline.make_dataset` exactly as training does, so the
winning ``best.json`` means the same thing when ``train.py`` reads it.

Results live in ``<out>/<model>/``: the KerasTuner project folder ``kt/`` (resumed on a rerun,
removed by ``--overwrite``), ``search.json`` (what the search was started with), ``trials.csv``
(one row per trial) and ``best.json``. Distributed tuning is KerasTuner's own chief/worker mode
(environment variables ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT``); each trial records the tuner that ran it, see
``docs/distributed-tuning.md``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner as kt
from keras_tuner.src.engine import tuner_utils  # convert_to_metrics_dict: not re-exported

from ..contracts import artifacts
from ..contracts.config import (
    DEFAULT_SEED,
    MODEL_SPECS,
    JewelNetError,
    Profile,
    check_model,
    get_profile,
)
from ..contracts.utils import atomic_write_json, atomic_write_text, read_json, set_seed
from ..split import augment, pipeline, splitting
from . import models
from .models import MODEL_HPARAMS, TRAIN_HPARAMS
from .train import compile_model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..split.pipeline import SplitArrays

ALGORITHMS: tuple[str, ...] = ("hyperband", "bayesian", "random")
OBJECTIVE = "val_accuracy"
PROJECT = "kt"  # KerasTuner project folder inside <out>/<model>/
TUNER_TAG = "tuner:"  # metric-name prefix recording which tuner ran a trial
ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"

# Hyperparameters that go to models.build_model; the rest shape training (fit / datasets).
# models.py owns the two key sets (build_model validates them).
MODEL_KEYS = MODEL_HPARAMS
TRAIN_KEYS = TRAIN_HPARAMS
_ALL_HP_KEYS = set(MODEL_KEYS) | set(TRAIN_KEYS)
_STEP_KEYS = {"dropout1", "dropout2", "aug_strength"}  # floats on a grid (search_space "step")

# Fine-tuning depths tried per transfer backbone (layers of the backbone unfrozen in stage 2).
# Ranges bracket the thesis choice (8 of VGG16's 19 layers, 50 of ResNet50's 175 and
# EfficientNetB2's 339) and include 0, i.e. "train the head only".
TAIL_CHOICES: dict[str, list[int]] = {
    "vgg16": [0, 4, 8, 12, 16],
    "resnet50": [0, 25, 50, 100, 150],
    "efficientnetb2": [0, 25, 50, 100, 200],
}

# Search budget keys of Profile.tuner and their defaults where a profile leaves one out.
BUDGET_DEFAULTS: dict[str, Any] = {
    "algorithm": "hyperband",
    "max_epochs": 10,  # Hyperband: epochs of the longest trial; others: epochs of every trial
    "max_trials": 10,  # cap on trials (Hyperband too; 0 or None: Hyperband's own schedule)
    "factor": 3,  # Hyperband reduction factor
    "hyperband_iterations": 1,
    "patience": 3,  # early stopping on val_accuracy inside a trial
    "max_train_per_class": None,  # None: the profile's training subset
}


# --------------------------------------------------------------------------- search space

def search_space(model_name: str, profile: Profile | str | None = None) -> dict[str, dict]:
    """The space searched for ``model_name``: name -> {"type", range or "values", "default"}.

    Types: "float" (``min``, ``max``, ``sampling`` "log" or ``step``) and "choice"
    (``values``). Defaults are the profile's values (those of Tables 4.4 and B.1 unless the
    profile departs from them), so its configuration is a point of the space and the notebook
    can mark it.
    """
    spec = MODEL_SPECS[check_model(model_name)]
    prof = _profile(profile)
    space: dict[str, dict[str, Any]] = {
        "learning_rate": {"type": "float", "min": 1e-5, "max": 1e-2, "sampling": "log",
                          "default": prof.learning_rate},
        "batch_size": {"type": "choice", "values": _with(prof.batch_size, [16, 32, 64]),
                       "default": prof.batch_size},
        "dense1": {"type": "choice", "values": _with(spec.dense_units[0], [128, 256, 512, 1024]),
                   "default": spec.dense_units[0]},
        "dense2": {"type": "choice", "values": _with(spec.dense_units[1], [64, 128, 256, 512]),
                   "default": spec.dense_units[1]},
        "dropout1": {"type": "float", "min": 0.0, "max": 0.6, "step": 0.1,
                     "default": spec.dropout[0]},
        "dropout2": {"type": "float", "min": 0.0, "max": 0.6, "step": 0.1,
                     "default": spec.dropout[1]},
        "l2": {"type": "choice", "values": _with(spec.l2, [0.0, 1e-4, 1e-3, 1e-2]),
               "default": spec.l2},
        "aug_strength": {"type": "float", "min": 0.0, "max": 1.5, "step": 0.25, "default": 1.0},
    }
    tail = prof.trainable_tail(model_name)
    if tail is not None:
        space["trainable_tail"] = {
            "type": "choice", "values": _with(tail, TAIL_CHOICES[model_name]),
            "default": tail,
        }
    return space


def _with(value: Any, values: list[Any]) -> list[Any]:
    """``values`` with the thesis default added if missing, sorted."""
    return sorted(set(values) | {value})


def _declare(hp: kt.HyperParameters, name: str, spec: Mapping[str, Any]) -> Any:
    """Register one entry of :func:`search_space` with KerasTuner and return its value."""
    if spec["type"] == "choice":
        return hp.Choice(name, list(spec["values"]), default=spec["default"])
    if spec.get("sampling") == "log":
        return hp.Float(name, spec["min"], spec["max"], sampling="log", default=spec["default"])
    return hp.Float(name, spec["min"], spec["max"], step=spec["step"], default=spec["default"])


def hparams_of(values: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    """The ``hparams`` dict (ARCHITECTURE.md keys, plain JSON types) of a trial's values."""
    out: dict[str, Any] = {}
    for key, spec in search_space(model_name).items():
        if key not in values:
            continue
        value = values[key]
        if key in ("dense1", "dense2", "batch_size", "trainable_tail"):
            out[key] = int(value)
        elif spec["type"] == "float" and "step" in spec:
            out[key] = round(float(value), 6)  # 0.30000000000000004 -> 0.3
        else:
            out[key] = float(value)
    return out


# --------------------------------------------------------------------------- hypermodel

class JewelHyperModel(kt.HyperModel):
    """One architecture's search space on top of ``models.build_model``.

    ``build`` declares the space and returns a compiled model; ``fit`` builds the batches for
    the trial's batch size and augmentation strength, then trains (two stages for transfer
    models, as ``train.py`` does) and returns the best epoch's metrics.
    """

    def __init__(self, model_name: str, num_classes: int, input_size: int,
                 profile: Profile, weights: str | None = None, seed: int = DEFAULT_SEED,
                 max_epochs: int | None = None, patience: int | None = None) -> None:
        super().__init__(name=f"jewelnet_{model_name}")
        self.model_name = check_model(model_name)
        self.num_classes = int(num_classes)
        self.input_size = int(input_size)
        self.profile = profile
        self.weights = weights
        self.seed = int(seed)
        self.space = search_space(model_name, profile)
        self.two_stage = MODEL_SPECS[model_name].two_stage
        self.max_epochs = max_epochs
        self.patience = patience

    def declare(self, hp: kt.HyperParameters) -> dict[str, Any]:
        return {name: _declare(hp, name, spec) for name, spec in self.space.items()}

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        values = self.declare(hp)
        # Same initial weights in every trial: trials differ by their hyperparameters only.
        keras.utils.set_random_seed(self.seed)
        hparams = {k: v for k, v in hparams_of(values, self.model_name).items()
                   if k in MODEL_KEYS}
        model = models.build_model(self.model_name, num_classes=self.num_classes,
                                   input_size=self.input_size, weights=self.weights,
                                   hparams=hparams)
        compile_model(model, float(values["learning_rate"]))
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any,
            train: SplitArrays | None = None, val: SplitArrays | None = None,
            epochs: int | None = None, initial_epoch: int = 0,
            callbacks: list | None = None, verbose: int = 0, fit_verbose: int = 0,
            **kwargs: Any) -> dict[str, float]:
        if train is None or val is None:
            raise JewelNetError("the hypermodel's fit needs train= and val= arrays")
        epochs = int(epochs or self.max_epochs or 1)
        batch = int(hp.get("batch_size"))
        strength = float(hp.get("aug_strength"))
        aug = augment.build_augmenter(self.profile.augmentation.scaled(strength),
                                      seed=self.seed) if strength > 0 else None
        train_ds = pipeline.make_dataset(train.images, train.labels, self.num_classes, batch,
                                     training=True, augment=aug, seed=self.seed)
        val_ds = pipeline.make_dataset(val.images, val.labels, self.num_classes, batch,
                                   training=False, seed=self.seed)
        callbacks = list(callbacks or [])
        if self.patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor=OBJECTIVE, mode="max", patience=int(self.patience)))
        common = {"validation_data": val_ds, "callbacks": callbacks, "verbose": fit_verbose,
                  "shuffle": False,  # the dataset shuffles itself
                  "class_weight": pipeline.class_weights(train.labels, self.num_classes)}
        history: dict[str, list[float]] = {}

        def run(first: int, last: int) -> None:
            if last <= first:
                return
            h = model.fit(train_ds, epochs=last, initial_epoch=first, **common)
            for key, seq in h.history.items():
                history.setdefault(key, []).extend(float(v) for v in seq)

        if self.two_stage:
            # Head first, then the backbone's last ``trainable_tail`` layers at the
            # profile's fixed fine-tuning rate (as train.py: the searched learning rate is
            # stage 1's), splitting this trial's epochs in the profile's stage-1 : stage-2
            # ratio (20 : 30 in the thesis protocol).
            p = self.profile
            stage2 = p.stage2_epochs_for(self.model_name)
            split = max(1, round(epochs * p.stage1_epochs / max(1, p.stage1_epochs + stage2)))
            run(initial_epoch, min(split, epochs))
            if epochs > split and not model.stop_training:
                models.set_stage(model, 2, int(hp.get("trainable_tail")))
                compile_model(model, p.fine_tune_lr)  # as train.py: a fixed, smaller rate
                run(max(initial_epoch, split), epochs)
        else:
            run(initial_epoch, epochs)
        if not history.get(OBJECTIVE):
            raise JewelNetError("a trial ran no epoch (check the epoch budget)")
        best = max(range(len(history[OBJECTIVE])), key=history[OBJECTIVE].__getitem__)
        metrics = {k: v[best] for k, v in history.items() if len(v) > best}
        metrics["epochs"] = float(initial_epoch + len(history[OBJECTIVE]))
        return metrics


def build_hypermodel(model_name: str, num_classes: int = 8, input_size: int | None = None,
                     profile: Profile | str | None = None, weights: str | None = "default",
                     seed: int = DEFAULT_SEED) -> Any:
    """The ``keras_tuner.HyperModel`` of ``model_name`` under ``profile`` (sizes, defaults)."""
    prof = _profile(profile)
    check_model(model_name)
    budget = tuner_budget(prof)
    return JewelHyperModel(
        model_name, num_classes=num_classes,
        input_size=input_size or prof.input_size(model_name), profile=prof,
        weights=prof.default_weights if weights == "default" else weights, seed=seed,
        max_epochs=budget["max_epochs"], patience=budget["patience"])


# --------------------------------------------------------------------------- tuners

def tuner_budget(profile: Profile | str | None = None, algorithm: str | None = None,
                 max_trials: int | None = None, max_epochs: int | None = None) -> dict[str, Any]:
    """The profile's search budget with defaults filled in and overrides applied, checked."""
    prof = _profile(profile)
    budget = {**BUDGET_DEFAULTS, **(prof.tuner or {})}
    if algorithm is not None:
        budget["algorithm"] = algorithm
    if max_trials is not None:
        budget["max_trials"] = max_trials
    if max_epochs is not None:
        budget["max_epochs"] = max_epochs
    algo = str(budget["algorithm"]).lower()
    if algo not in ALGORITHMS:
        raise JewelNetError(f"unknown search algorithm {algo!r}; choose one of: "
                            f"{', '.join(ALGORITHMS)}")
    budget["algorithm"] = algo
    for key in ("max_epochs", "factor", "hyperband_iterations"):
        if not isinstance(budget[key], int) or budget[key] < 1:
            raise JewelNetError(f"tuner budget {key} must be a positive whole number, "
                                f"got {budget[key]!r}")
    if budget["factor"] < 2:
        raise JewelNetError(f"tuner budget factor must be at least 2, got {budget['factor']}")
    trials = budget["max_trials"]
    if trials is not None and (not isinstance(trials, int) or trials < 0
                               or (trials == 0 and algo != "hyperband")):
        raise JewelNetError(f"max_trials must be a positive whole number, got {trials!r}")
    return budget


def _tagged(base: type) -> type:
    """``base`` tuner that records in each trial's metrics which tuner ran it and how long."""

    class Tagged(base):  # type: ignore[misc, valid-type]
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            start = time.perf_counter()
            results = super().run_trial(trial, *args, **kwargs)
            metrics = tuner_utils.convert_to_metrics_dict(results, self.oracle.objective)
            metrics["seconds"] = time.perf_counter() - start
            metrics[TUNER_TAG + str(self.tuner_id)] = 1.0
            self.trials_run.append(trial.trial_id)
            return metrics

        def _configure_tensorboard_dir(self, callbacks: list, trial: Any,
                                       execution: int = 0) -> None:
            # KerasTuner 1.4.8 imports tensorboard here on every trial under TensorFlow, even
            # without a TensorBoard callback; tensorboard is not a dependency of ours.
            if any(type(c).__name__ == "TensorBoard" for c in callbacks):
                super()._configure_tensorboard_dir(callbacks, trial, execution)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if not self.keep_checkpoints:  # only Hyperband continues from a trial's weights
                ckpt = Path(self.get_trial_dir(trial.trial_id)) / "checkpoint.weights.h5"
                ckpt.unlink(missing_ok=True)
            if not _is_worker():  # keep trials.csv current, so an interrupted search shows
                write_trials_csv(Path(self.directory))

    Tagged.__name__ = Tagged.__qualname__ = f"Jewel{base.__name__}"
    return Tagged


def make_tuner(hypermodel: Any, budget: Mapping[str, Any], directory: str | os.PathLike[str],
               seed: int = DEFAULT_SEED, overwrite: bool = False) -> Any:
    """The KerasTuner tuner for ``budget['algorithm']`` in ``directory/kt``."""
    common = {"objective": kt.Objective(OBJECTIVE, direction="max"), "seed": int(seed),
              "directory": str(directory), "project_name": PROJECT, "overwrite": overwrite,
              "max_consecutive_failed_trials": 3}
    algo = budget["algorithm"]
    # KerasTuner prints "Reloading Tuner from <absolute path>" when it reopens a project: a
    # line about the build machine, not the search, so the constructor's stdout is dropped.
    with contextlib.redirect_stdout(io.StringIO()):
        return _tuner_for(algo, hypermodel, budget, common)


def _tuner_for(algo: str, hypermodel: Any, budget: Mapping[str, Any],
               common: dict[str, Any]) -> Any:
    """The tuner of one algorithm, with JewelNet's trial bookkeeping attached."""
    if algo == "hyperband":
        tuner = _tagged(kt.Hyperband)(hypermodel, max_epochs=budget["max_epochs"],
                                      factor=budget["factor"],
                                      hyperband_iterations=budget["hyperband_iterations"],
                                      **common)
        # Hyperband sizes its own brackets; max_trials caps the total for a bounded budget.
        tuner.oracle.max_trials = budget["max_trials"] or None
    elif algo == "bayesian":
        tuner = _tagged(kt.BayesianOptimization)(hypermodel, max_trials=budget["max_trials"],
                                                 **common)
    else:
        tuner = _tagged(kt.RandomSearch)(hypermodel, max_trials=budget["max_trials"], **common)
    tuner.trials_run = []
    # Random and Bayesian search never reload a trial's weights; dropping them saves ~20-40 MB
    # per custom-CNN trial. Hyperband's later rounds continue from them.
    tuner.keep_checkpoints = algo == "hyperband"
    return tuner


# --------------------------------------------------------------------------- distribution

def distributed_role() -> str | None:
    """'chief', 'worker' or None (no KERASTUNER_ORACLE_IP), after checking the variables."""
    if not os.environ.get(ENV_IP):
        return None
    missing = [v for v in (ENV_PORT, ENV_ID) if not os.environ.get(v)]
    if missing:
        raise JewelNetError(f"{ENV_IP} is set but {' and '.join(missing)} not; distributed "
                            f"tuning needs all three (see docs/distributed-tuning.md)")
    port = os.environ[ENV_PORT]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise JewelNetError(f"{ENV_PORT}={port!r} is not a TCP port number")
    return "chief" if "chief" in os.environ[ENV_ID] else "worker"


def _is_worker() -> bool:
    return distributed_role() == "worker"


# --------------------------------------------------------------------------- search

def run_search(model_name: str, data_dir: str | os.PathLike[str] | None,
               split_path: str | os.PathLike[str], profile: Profile | str | None = None,
               out_dir: str | os.PathLike[str] = "artifacts/tuning",
               algorithm: str | None = None, seed: int = DEFAULT_SEED, overwrite: bool = False,
               max_trials: int | None = None, max_epochs: int | None = None,
               weights: str | None = "default", verbose: int = 1) -> dict[str, Any]:
    """Search ``model_name``'s space on the split's train/val subsets; write the results.

    Returns ``best.json``'s content (chief or single process) or, on a distributed worker, a
    summary of the trials it ran. A rerun resumes the KerasTuner project (finished trials are
    not run again); ``overwrite`` starts fresh.
    """
    check_model(model_name)
    prof = _profile(profile)
    budget = tuner_budget(prof, algorithm, max_trials, max_epochs)
    role = distributed_role()
    target = Path(out_dir) / model_name
    if role == "worker" and overwrite:
        overwrite = False  # only the chief may clear the shared folder
    manifest = splitting.load_manifest(split_path)
    size = prof.input_size(model_name)
    weights = prof.default_weights if weights == "default" else weights
    meta = {"model": model_name, "profile": prof.name, "algorithm": budget["algorithm"],
            "seed": int(seed), "input_size": size, "weights": weights,
            "classes": list(manifest["classes"]), "split": Path(split_path).as_posix(),
            "data_hash": splitting.data_hash(manifest)}
    if role != "worker":
        _prepare_folder(target, meta, overwrite)

    set_seed(seed)
    hypermodel = build_hypermodel(model_name, num_classes=len(manifest["classes"]),
                                  input_size=size, profile=prof, weights=weights, seed=seed)
    # Start the clock before the tuner so the (one) model build it does counts too.
    start = time.perf_counter()
    tuner = make_tuner(hypermodel, budget, target, seed=seed, overwrite=overwrite)
    # verbose: KerasTuner's per-trial tables (1); fit_verbose: Keras progress bars (verbose 2).
    fit_kwargs: dict[str, Any] = {"epochs": budget["max_epochs"], "verbose": min(verbose, 1),
                                  "fit_verbose": 1 if verbose >= 2 else 0}
    if role != "chief":  # the chief only hands out trials; it never trains
        per_class = budget["max_train_per_class"] or prof.max_train_per_class
        fit_kwargs["train"] = pipeline.load_split_arrays(manifest, "train", size, data_dir,
                                                     max_per_class=per_class, seed=seed)
        fit_kwargs["val"] = pipeline.load_split_arrays(manifest, "val", size, data_dir)
        if not len(fit_kwargs["train"]) or not len(fit_kwargs["val"]):
            raise JewelNetError(f"{split_path} has an empty train or val subset; a search "
                                f"needs both")
    try:
        tuner.search(**fit_kwargs)
    except RuntimeError as err:  # KerasTuner: too many failed trials, with the last traceback
        last = str(err).strip().splitlines()
        raise JewelNetError(f"the search stopped: {last[0]} Last error: "
                            f"{last[-1] if len(last) > 1 else '?'}") from err
    seconds = time.perf_counter() - start
    if role == "worker":
        return {"role": "worker", "tuner_id": os.environ[ENV_ID], "trials_run": tuner.trials_run,
                "seconds": round(seconds, 1)}
    return write_results(target, meta, budget, seconds)


def _prepare_folder(target: Path, meta: dict[str, Any], overwrite: bool) -> None:
    """Clear (``overwrite``) or check that a resumed search is the same search, then record it."""
    meta_path = target / "search.json"
    if overwrite:
        for name in ("search.json", "trials.csv", artifacts.BEST_FILE, PROJECT):
            path = target / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    record = {**meta, "started": now}
    if not overwrite and meta_path.exists():
        old = read_json(meta_path)
        # The split's path may be spelled differently; its content (data_hash) may not differ.
        changed = [k for k in meta if k != "split" and k in old and old[k] != meta[k]]
        if changed:
            key = changed[0]
            raise JewelNetError(
                f"{target} holds a search with {key}={old[key]!r}, not {meta[key]!r}; pass "
                f"--overwrite to start again or choose another --out")
        record = {**meta, "started": old.get("started", now), "resumed": now}
    atomic_write_json(meta_path, record)


def write_results(target: Path, meta: Mapping[str, Any], budget: Mapping[str, Any],
                  seconds: float | None = None) -> dict[str, Any]:
    """Write ``trials.csv`` and ``best.json`` from the project folder; return best.json."""
    import pandas as pd

    table = write_trials_csv(target)
    done = table[(table["status"] == "COMPLETED") & table[OBJECTIVE].notna()]
    if done.empty:
        last = next((m for m in table["message"][::-1] if m), "no message")
        raise JewelNetError(f"no trial in {target / PROJECT} completed (last error: {last}); "
                            f"see the message column of {target / 'trials.csv'}")
    best = done.sort_values([OBJECTIVE, "trial_id"], ascending=[False, True]).iloc[0]
    model_name = meta["model"]
    hparams = hparams_of({k: best[k] for k in search_space(model_name) if k in best},
                         model_name)
    result = {
        "model": model_name,
        "profile": meta["profile"],
        "algorithm": meta["algorithm"],
        "seed": meta["seed"],
        "hparams": hparams,
        OBJECTIVE: float(best[OBJECTIVE]),
        "trials": int(len(table)),
        "completed_trials": int(len(done)),
        "best_trial": str(best["trial_id"]),
        "best_epochs": int(best["epochs"]) if pd.notna(best.get("epochs")) else None,
        "input_size": meta["input_size"],
        "weights": meta["weights"],
        "data_hash": meta["data_hash"],
        "budget": {k: budget[k] for k in BUDGET_DEFAULTS},
        "search_seconds": None if seconds is None else round(seconds, 1),
    }
    artifacts.write_tuning_result(target, result)
    return result


# --------------------------------------------------------------------------- results

def _trial_row(state: Mapping[str, Any]) -> dict[str, Any]:
    """One trials.csv row from a KerasTuner ``trial.json``."""
    values = dict(state.get("hyperparameters", {}).get("values", {}))
    row: dict[str, Any] = {"trial_id": state.get("trial_id"), "status": state.get("status")}
    tuner_id = None
    metrics = state.get("metrics", {}).get("metrics", {})
    for name, hist in metrics.items():
        obs = hist.get("observations") or []
        value = obs[-1]["value"][0] if obs and obs[-1].get("value") else None
        if name.startswith(TUNER_TAG):
            tuner_id = name[len(TUNER_TAG):]
        else:
            row[name] = value
    row["tuner_id"] = tuner_id
    for key, value in values.items():
        if key in _STEP_KEYS and isinstance(value, float):
            value = round(value, 6)  # KerasTuner's grid gives 0.30000000000000004
        row[key.replace("tuner/", "hb_") if key.startswith("tuner/") else key] = value
    lines = (state.get("message") or "").strip().splitlines()
    row["message"] = lines[-1] if lines else ""  # a failed trial's exception line
    return row


def trials_table(tuning_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """All trials of ``<out>/<model>`` (or its ``kt`` folder) as a DataFrame, in trial order.

    Columns: trial_id, tuner_id, status, val_accuracy, every hyperparameter, then the other
    metrics (accuracy, losses, epochs, seconds) and Hyperband's bookkeeping (``hb_*``).
    """
    import pandas as pd

    root = Path(tuning_dir)
    project = root / PROJECT if (root / PROJECT).is_dir() else root
    if not project.is_dir():
        raise JewelNetError(f"tuning folder not found: {root}")
    rows = []
    for path in sorted(project.glob("trial_*/trial.json")):
        try:
            rows.append(_trial_row(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as err:
            raise JewelNetError(f"cannot read {path}: {err}") from err
    hp_cols: list[str] = []
    if (root / "search.json").exists():
        hp_cols = list(search_space(read_json(root / "search.json")["model"]))
    front = ["trial_id", "tuner_id", "status", OBJECTIVE]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=front + hp_cols)
    hp_cols = hp_cols or [c for c in df.columns if c in _ALL_HP_KEYS]
    for col in front + hp_cols:
        if col not in df.columns:
            df[col] = None
    rest = sorted(c for c in df.columns if c not in front + hp_cols and c != "message")
    rest = [c for c in rest if not c.startswith("hb_")] + [c for c in rest if c.startswith("hb_")]
    return df[front + hp_cols + rest + ["message"]].reset_index(drop=True)




def write_trials_csv(target: Path) -> pd.DataFrame:
    """Write ``trials.csv`` beside the project folder atomically; return the table."""
    table = trials_table(target)
    atomic_write_text(target / "trials.csv", table.to_csv(index=False))
    return table


def plot_hparams(df: pd.DataFrame, title: str = "") -> Figure:
    """One panel per hyperparameter: its value against validation accuracy, best starred.

    Rates use log axes (L2 a symmetric-log one, since 0 is a choice) and widths and batch
    sizes log2 axes, so the panels show where good values lie rather than how the sampler
    spread them. Marker size grows with the epochs a trial trained: Hyperband's short trials
    are not comparable with its long ones.
    """
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: no global state, renders headless
    from matplotlib.ticker import ScalarFormatter

    cols = [c for c in df.columns if c in _ALL_HP_KEYS and df[c].notna().any()]
    if not cols:
        raise JewelNetError("the trials table has no hyperparameter columns to plot")
    done = df[df[OBJECTIVE].notna()]
    epochs = (done["epochs"].astype(float).fillna(1.0) if "epochs" in done
              else np.ones(len(done)))
    sizes = 14 + 60 * epochs / max(1.0, float(epochs.max()) if len(epochs) else 1.0)
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True)).ravel()
    best = done[OBJECTIVE].idxmax() if not done.empty else None
    for ax, col in zip(axes, cols, strict=False):
        x = done[col].astype(float)
        ax.scatter(x, done[OBJECTIVE], s=sizes, alpha=0.7, color="tab:blue",
                   label="trial (size: epochs)")
        if best is not None:
            ax.scatter([float(done.loc[best, col])], [done.loc[best, OBJECTIVE]], s=120,
                       color="tab:red", marker="*", label="best", zorder=3)
        positive = x[x > 0]
        if col == "learning_rate" and len(positive):
            ax.set_xscale("log")
        elif col == "l2" and len(positive):
            ax.set_xscale("symlog", linthresh=float(positive.min()))
        elif col in ("batch_size", "dense1", "dense2") and len(positive) == len(x) > 0:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 16, 32 rather than 2^4, 2^5
        ax.set_xlabel(col)
        ax.grid(alpha=0.3)
    for ax in axes[: len(cols): ncols]:
        ax.set_ylabel("validation accuracy")
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    return fig


def _profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)

