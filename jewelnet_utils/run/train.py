"""Training: one protocol for all four models (thesis 4.6, Table 4.4, Listing C.2).

``train_model`` writes one run folder (ARCHITECTURE.md) and can be killed at any moment:
every file is replaced atomically, each epoch ends with a checkpoint in ``checkpoints/``
(``state.json`` plus NumPy archives of the best weights and of the last epoch's weights and
optimizer state), and ``resume=True`` continues from the last finished epoch. Each epoch's
random draws (data order, augmentation, dropout) depend only on (seed, stage, epoch), so a
killed and resumed run ends as the uninterrupted run would. ``model.keras`` is written once,
at the end, from the best weights (uncompiled: no optimizer state inside).

Protocol, as the thesis fixes it:

* Adam at 1e-4 with Keras 2's ``decay=1e-6`` (lr / (1 + decay * updates)), categorical
  cross-entropy, class weights from the training split, batch size from the profile.
* ReduceLROnPlateau(val_loss, factor 0.5, patience 5), EarlyStopping(val_accuracy,
  patience 10, best weights restored) and a checkpoint of the best val_accuracy (model.keras).
* Custom CNN: one stage. Transfer models: stage 1 trains the head on a frozen backbone,
  stage 2 also unfreezes the backbone's last N layers at the smaller ``fine_tune_lr``.

Keras 3 optimizers have no ``decay`` argument, and a LearningRateSchedule cannot be changed by
ReduceLROnPlateau. So one callback (:class:`ThesisProtocol`) owns the learning rate: before
each update it sets ``base_lr * plateau_multiplier / (1 + decay * iterations)``, and halves
the multiplier on a val_loss plateau. It also does early stopping and checkpointing, because
their state (best score, patience counters, multiplier) must survive ``--resume``; it follows
the Keras callbacks' rules (min_delta 1e-4 for the plateau, strict improvement for accuracy).

Stage-1 feature caching: a frozen backbone computes the same features every epoch, so we
compute them once for ``feature_cache_views`` augmented views of each training image (and the
plain validation images) and train the head alone on them; each epoch draws one cached view per
image, so an epoch still has one update per batch of images. The head model shares its layer
objects with the full model, so stage 2 simply continues with the full model.

No TensorFlow import at module level: under JAX, ``data.make_dataset`` yields a PyDataset and
everything here uses Keras 3 APIs; only ``strategy="mirrored"`` needs TensorFlow.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import __version__
from ..contracts.config import (
    MODEL_SPECS,
    JewelNetError,
    Profile,
    check_model,
    get_profile,
    run_name,
)
from ..contracts.utils import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    library_versions,
    read_json,
    set_seed,
)
from ..images import data
from ..split import augment
from . import models, pretrain

PROFILE_DEFAULT = "profile"  # ``weights`` sentinel: use the profile's default_weights
STATE_VERSION = 1
HISTORY_COLUMNS = ("epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy",
                   "learning_rate")
PLATEAU_MIN_DELTA = 1e-4  # keras.callbacks.ReduceLROnPlateau's default


def _epoch_end_hook(state: dict[str, Any]) -> None:
    """Called after each epoch's checkpoint is on disk. Tests replace it to simulate a kill."""


# --------------------------------------------------------------------------- small helpers

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _atomic_keras_save(obj: keras.Model, path: Path) -> None:
    """``model.save`` through a temp file in the same folder + os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp.keras"
    try:
        obj.save(str(tmp))
        os.replace(tmp, path)
    except OSError as err:
        raise JewelNetError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    _save_npz(path, **{f"a{i:05d}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_arrays(path: Path) -> list[np.ndarray]:
    try:
        with np.load(path) as saved:
            return [saved[k] for k in sorted(saved.files)]
    except (OSError, ValueError) as err:
        raise JewelNetError(f"cannot read checkpoint {path} ({err}); pass --overwrite to "
                            "start again") from err


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / "history.csv", _csv_text(
        list(HISTORY_COLUMNS), [[_fmt(r.get(c)) for c in HISTORY_COLUMNS] for r in rows]))


def _float(value: Any) -> float:
    try:
        return float(keras.ops.convert_to_numpy(value))
    except (TypeError, ValueError):
        return float("nan")


# --------------------------------------------------------------------------- hyperparameters

def load_hparams(hparams: Mapping[str, Any] | str | os.PathLike[str] | None,
                 model_name: str) -> dict[str, Any]:
    """Hyperparameters from a dict or a ``best.json`` ({"model": ..., "hparams": {...}}).

    Unknown keys, a file tuned for another model or nonsensical values are clear errors."""
    if hparams is None:
        return {}
    source = "hparams"
    if isinstance(hparams, (str, os.PathLike)):
        source = str(hparams)
        obj = read_json(hparams)
        if not isinstance(obj, dict) or not isinstance(obj.get("hparams"), dict):
            raise JewelNetError(
                f"{source} is not a best.json file: expected "
                '{"model": ..., "hparams": {...}}'
            )
        hparams = obj
    hparams = dict(hparams)
    if isinstance(hparams.get("hparams"), dict):  # a best.json object passed as a dict
        tuned_for = hparams.get("model")
        if tuned_for not in (None, model_name):
            raise JewelNetError(
                f"{source} holds hyperparameters tuned for {tuned_for}, not {model_name}"
            )
        hparams = dict(hparams["hparams"])
    models.resolve_hparams(model_name, hparams)  # unknown keys and model values
    out = dict(hparams)
    if "batch_size" in out:
        if int(out["batch_size"]) < 1:
            raise JewelNetError(f"batch_size must be at least 1, got {out['batch_size']}")
        out["batch_size"] = int(out["batch_size"])
    if "learning_rate" in out:
        if not float(out["learning_rate"]) > 0:
            raise JewelNetError(f"learning_rate must be positive, got {out['learning_rate']}")
        out["learning_rate"] = float(out["learning_rate"])
    if "aug_strength" in out:
        if float(out["aug_strength"]) < 0:
            raise JewelNetError(f"aug_strength must be 0 or more, got {out['aug_strength']}")
        out["aug_strength"] = float(out["aug_strength"])
    return out


# --------------------------------------------------------------------------- run folder

def _weights_label(weights: Any) -> str:
    if weights is None or (isinstance(weights, str) and weights.lower() in ("", "none")):
        return "none"
    return str(weights)


def _fingerprint(cfg: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "profile", "seed", "weights", "hparams", "data_hash", "input_size",
            "classes", "feature_cache")
    return {k: cfg.get(k) for k in keys}


def _prepare_run_dir(run_dir: Path, cfg: dict[str, Any], resume: bool,
                     overwrite: bool) -> dict[str, Any] | None | str:
    """Apply the overwrite/resume rules. Returns the saved state to resume from, None for a
    fresh start, or "complete" when ``resume`` finds a finished run."""
    cfg_path = run_dir / "config.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise JewelNetError(f"{run_dir} exists and is not a folder")
    if overwrite and run_dir.exists():
        if not cfg_path.is_file() and any(run_dir.iterdir()):
            raise JewelNetError(f"{run_dir} is not a run folder (no config.json); "
                                "not deleting it, remove it yourself")
        shutil.rmtree(run_dir)
    if not cfg_path.is_file():
        if run_dir.is_dir() and any(p for p in run_dir.iterdir() if p.name != "checkpoints"):
            raise JewelNetError(f"{run_dir} exists but is not a run folder (no config.json); "
                                "choose another --out or remove it")
        return None
    old = read_json(cfg_path)
    status = old.get("status") if isinstance(old, dict) else None
    if status == "failed":
        # A start that failed before its first epoch (see _mark_failed_start): nothing in it
        # is worth keeping, so the corrected command simply replaces it.
        shutil.rmtree(run_dir)
        return None
    if status == "complete":
        if resume:
            return "complete"
        raise JewelNetError(f"{run_dir} already holds a complete run; pass --overwrite to "
                            "replace it (or --resume to keep it)")
    if not resume:
        raise JewelNetError(f"{run_dir} holds an interrupted run (status {status!r}); pass "
                            "--resume to continue it or --overwrite to start again")
    then, now = _fingerprint(old), _fingerprint(cfg)
    changed = [k for k in now if then.get(k) != now[k]]
    if changed:
        raise JewelNetError(f"cannot resume {run_dir}: it was started with a different "
                            f"{', '.join(changed)}; pass --overwrite to start again")
    state_path = run_dir / "checkpoints" / "state.json"
    if not state_path.is_file():
        return None  # killed before the first epoch ended: start again in place
    state = read_json(state_path)
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise JewelNetError(f"{state_path} is not a checkpoint state this version understands; "
                            "pass --overwrite to start again")
    return state


def _check_data_dir(manifest: dict[str, Any], data_dir: Path, split_path: Path) -> None:
    """The manifest's files must be in ``data_dir`` (a split made for another folder is caught
    here; changed file contents later, by ``data.load_split_arrays``' hash check)."""
    if not data_dir.is_dir():
        raise JewelNetError(f"data folder not found: {data_dir}")
    files = manifest["files"]
    if not files:
        raise JewelNetError(f"split manifest {split_path} lists no files")
    step = max(1, len(files) // 8)
    for entry in files[::step][:8]:
        if not (data_dir / entry["path"]).is_file():
            raise JewelNetError(
                f"split manifest {split_path} was made for {manifest['data_dir']}, and its file "
                f"{entry['path']} is not in {data_dir}; run `jewelnet split {data_dir} --out "
                f"{split_path}` for this folder"
            )


# --------------------------------------------------------------------------- protocol

class ThesisProtocol(keras.callbacks.Callback):
    """Learning rate (decay + plateau), early stopping, best/last checkpoints and history.

    The full model (``trainer.model``) is what gets checkpointed; the model being fitted
    (``self.model``) is the full model or, for cached stage 1, the head sharing its layers.
    """

    def __init__(self, trainer: _Trainer, stage: int, base_lr: float, epochs: int) -> None:
        super().__init__()
        self.trainer = trainer
        self.stage = stage
        self.epochs = epochs
        self.base_lr = float(base_lr)
        self._t0 = 0.0

    @property
    def state(self) -> dict[str, Any]:
        return self.trainer.state

    def _lr(self, iterations: int) -> float:
        decay = self.trainer.profile.lr_decay
        return self.base_lr * self.state["lr_multiplier"] / (1.0 + decay * iterations)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        iterations = int(keras.ops.convert_to_numpy(optimizer.iterations))
        optimizer.learning_rate = self._lr(iterations)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        st = self.state
        prof = self.trainer.profile
        _add_elapsed(st["timings"], f"stage{self.stage}_s", self._t0, self._cpu0)
        t_ckpt = time.perf_counter()
        val_acc = _float(logs.get("val_accuracy", float("nan")))
        val_loss = _float(logs.get("val_loss", float("nan")))
        st["global_epochs"] += 1
        st["stage_epochs_done"] = epoch + 1
        st["epochs"][str(self.stage)] = epoch + 1
        row = {"epoch": st["global_epochs"], "stage": self.stage,
               "loss": _float(logs.get("loss")), "accuracy": _float(logs.get("accuracy")),
               "val_loss": val_loss, "val_accuracy": val_acc,
               "learning_rate": _float(self.model.optimizer.learning_rate)}
        st["history"].append(row)

        if val_acc > st["best_val_accuracy"]:  # ModelCheckpoint(save_best_only=True)
            st["best_val_accuracy"] = val_acc
            st["best_epoch"] = st["global_epochs"]
            st["best_stage"] = self.stage
            self.trainer.save_best()
        if val_acc > st["stage_best_val_accuracy"]:  # EarlyStopping(val_accuracy)
            st["stage_best_val_accuracy"] = val_acc
            st["es_wait"] = 0
        else:
            st["es_wait"] += 1
        if val_loss < st["plateau_best_val_loss"] - PLATEAU_MIN_DELTA:  # ReduceLROnPlateau
            st["plateau_best_val_loss"] = val_loss
            st["plateau_wait"] = 0
        else:
            st["plateau_wait"] += 1
            if st["plateau_wait"] >= prof.reduce_lr_patience:
                st["lr_multiplier"] *= prof.reduce_lr_factor
                st["plateau_wait"] = 0
        stop = st["es_wait"] >= prof.early_stop_patience
        st["stopped_early"][str(self.stage)] = bool(stop)

        if stop or epoch + 1 >= self.epochs:
            # The stage ends here; what follows starts from the best weights, so the last
            # epoch's weights and optimizer are not needed by --resume.
            st["checkpoint"] = None
        else:
            self.trainer.save_checkpoint(self.model)
        st["timings"]["checkpoint_s"] += time.perf_counter() - t_ckpt
        self.trainer.save_state()
        self.trainer.prune_checkpoints()
        _epoch_end_hook(st)
        if stop:
            self.model.stop_training = True


class _CachedViews(keras.utils.PyDataset):
    """Batches of cached stage-1 features: each pass over the images takes one random view of
    every image; an epoch is ``repeats`` passes (like the image pipeline)."""

    def __init__(self, features: np.ndarray, onehot: np.ndarray, sample_weight: np.ndarray,
                 batch_size: int, seed: int, repeats: int = 1) -> None:
        super().__init__()
        self.features, self.onehot, self.sample_weight = features, onehot, sample_weight
        self.batch_size = batch_size
        self.repeats = max(1, int(repeats))
        self._rng = np.random.default_rng(seed)
        self._draw()

    def _draw(self) -> None:
        views, n = self.features.shape[:2]
        self._order = np.concatenate([self._rng.permutation(n) for _ in range(self.repeats)])
        self._view = self._rng.integers(views, size=len(self._order))

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if index < 0 or index >= len(self):
            raise IndexError(index)
        pos = slice(index * self.batch_size, (index + 1) * self.batch_size)
        idx = self._order[pos]
        return self.features[self._view[pos], idx], self.onehot[idx], self.sample_weight[idx]

    def on_epoch_end(self) -> None:
        self._draw()


class _Repeated(keras.utils.PyDataset):
    """``repeats`` passes over a PyDataset per epoch (reshuffled between passes); tf.data
    pipelines use ``Dataset.repeat`` instead."""

    def __init__(self, inner: keras.utils.PyDataset, repeats: int) -> None:
        super().__init__()
        self.inner, self.repeats, self._pass = inner, repeats, 0

    def __len__(self) -> int:
        return len(self.inner) * self.repeats

    def __getitem__(self, index: int) -> Any:
        if index < 0 or index >= len(self):
            raise IndexError(index)
        n = len(self.inner)
        if index // n != self._pass:
            self._pass = index // n
            self.inner.on_epoch_end()
        return self.inner[index % n]

    def on_epoch_end(self) -> None:
        self._pass = 0
        self.inner.on_epoch_end()


def _repeat(dataset: Any, repeats: int) -> Any:
    if repeats <= 1:
        return dataset
    if hasattr(dataset, "repeat"):  # tf.data.Dataset
        return dataset.repeat(repeats)
    return _Repeated(dataset, repeats)


def _strategy_scope(strategy: str) -> contextlib.AbstractContextManager:
    if strategy == "default":
        return contextlib.nullcontext()
    if strategy == "mirrored":
        if keras.backend.backend() != "tensorflow":
            raise JewelNetError("strategy 'mirrored' needs the TensorFlow backend; "
                                f"Keras runs on {keras.backend.backend()}")
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    raise JewelNetError(f"unknown strategy {strategy!r}; choose default or mirrored")


def _enable_determinism() -> None:
    """Same seed, same numbers on CPU: TensorFlow's deterministic kernels and tf.data order."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _fresh_state() -> dict[str, Any]:
    return {
        "version": STATE_VERSION, "stage": 1, "stage_epochs_done": 0, "stages_done": [],
        "global_epochs": 0, "best_val_accuracy": -1.0, "best_epoch": None, "best_stage": None,
        "history": [], "epochs": {}, "stopped_early": {}, "checkpoint": None,
        "timings": {"feature_cache_s": 0.0, "stage1_s": 0.0, "stage2_s": 0.0,
                    "checkpoint_s": 0.0},
        **_stage_counters(),
    }


def _stage_counters() -> dict[str, Any]:
    return {"stage_best_val_accuracy": -1.0, "es_wait": 0,
            "plateau_best_val_loss": float("inf"), "plateau_wait": 0, "lr_multiplier": 1.0}


class _Trainer:
    """One run's state and the stage logic; ``train_model`` is the public face."""

    def __init__(self, model_name: str, profile: Profile, run_dir: Path, seed: int,
                 hparams: dict[str, Any], progress: bool) -> None:
        self.model_name = model_name
        self.profile = profile
        self.run_dir = run_dir
        self.ckpt_dir = run_dir / "checkpoints"
        self.seed = seed
        self.hparams = hparams
        self.progress = progress
        self.state: dict[str, Any] = _fresh_state()
        self.model: keras.Model | None = None
        self.best_weights: list[np.ndarray] | None = None  # in memory, as model.keras

    # ---- checkpoints (NumPy archives: plain arrays, no optimizer riding along, fast to write)
    def save_state(self) -> None:
        atomic_write_json(self.ckpt_dir / "state.json", self.state)
        _write_history(self.run_dir, self.state["history"])

    def save_best(self) -> None:
        """ModelCheckpoint(save_best_only): the best weights, in memory and on disk. The
        run's model.keras is written from them once training ends."""
        self.best_weights = [np.asarray(w) for w in self.model.get_weights()]
        _save_arrays(self.ckpt_dir / "best.npz", self.best_weights)

    def save_checkpoint(self, fitted: keras.Model) -> None:
        """Full model weights + the fitted model's optimizer, under a per-epoch name that
        state.json points to (written after them), so a kill never pairs mismatched files."""
        stem = f"last-e{self.state['global_epochs']:04d}"
        _save_arrays(self.ckpt_dir / f"{stem}.weights.npz", self.model.get_weights())
        _save_arrays(self.ckpt_dir / f"{stem}.optimizer.npz",
                     [keras.ops.convert_to_numpy(v) for v in fitted.optimizer.variables])
        self.state["checkpoint"] = stem

    def prune_checkpoints(self) -> None:
        keep = self.state.get("checkpoint")
        for path in self.ckpt_dir.glob("last-e*"):
            if keep is None or not path.name.startswith(keep + "."):
                path.unlink(missing_ok=True)

    def restore_weights(self) -> None:
        stem = self.state.get("checkpoint")
        if stem:
            self.model.set_weights(_load_arrays(self.ckpt_dir / f"{stem}.weights.npz"))

    def restore_optimizer(self, fitted: keras.Model) -> None:
        stem = self.state.get("checkpoint")
        if not stem:
            return
        path = self.ckpt_dir / f"{stem}.optimizer.npz"
        arrays = _load_arrays(path)
        optimizer = fitted.optimizer
        optimizer.build(fitted.trainable_variables)
        if len(arrays) != len(optimizer.variables):
            raise JewelNetError(f"{path} does not match the model's optimizer; pass --overwrite "
                                "to start again")
        for var, value in zip(optimizer.variables, arrays, strict=True):
            var.assign(value)

    def restore_best(self) -> None:
        """EarlyStopping's restore_best_weights (read back from disk after a resume)."""
        if self.best_weights is None:
            path = self.ckpt_dir / "best.npz"
            if not path.is_file():
                return
            self.best_weights = _load_arrays(path)
        self.model.set_weights(self.best_weights)

    # ---- fitting
    def log(self, text: str) -> None:
        if self.progress:
            print(f"[{self.run_dir.name}] {text}", flush=True)

    def compile(self, fitted: keras.Model, lr: float) -> None:
        fitted.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                       loss="categorical_crossentropy", metrics=["accuracy"],
                       run_eagerly=self.profile.run_eagerly)

    def fit_stage(self, stage: int, fitted: keras.Model, epochs: int, lr: float,
                  epoch_data: Callable[[int], Any], val_data: Any,
                  class_weight: dict[int, float] | None, resuming: bool) -> None:
        """Fit ``fitted`` for the stage's remaining epochs, one ``fit`` call per epoch.

        ``epoch_data(seed)`` builds one epoch's training data. Before each epoch every random
        stream (data order, augmentation, dropout) restarts from :func:`_epoch_seed`, so the
        epoch draws the same numbers whether or not the run was killed and resumed before it.
        The compiled train function is kept across the calls (no recompile).
        """
        st = self.state
        if stage in st["stages_done"] or epochs <= 0:
            return
        if st["stage"] != stage:
            st.update(stage=stage, stage_epochs_done=0, **_stage_counters())
        self.compile(fitted, lr)
        if resuming and st["stage_epochs_done"] > 0:
            self.restore_optimizer(fitted)
        callbacks = [ThesisProtocol(self, stage, lr, epochs)]
        if self.progress:
            callbacks.append(_StageProgbar(epochs))
        while st["stage_epochs_done"] < epochs and not st["stopped_early"].get(str(stage)):
            epoch = st["stage_epochs_done"]
            seed = _epoch_seed(self.seed, stage, epoch)
            keras.utils.set_random_seed(seed)  # anything drawing from the global generators
            _reseed_generators(fitted, seed, stream=0)  # dropout
            # shuffle=False: the epoch's data is already shuffled, from the epoch's seed.
            fitted.fit(epoch_data(seed), validation_data=val_data, epochs=epoch + 1,
                       initial_epoch=epoch, class_weight=class_weight, shuffle=False,
                       callbacks=callbacks, verbose=2 if self.progress else 0)
        st["stages_done"].append(stage)
        self.save_state()
        self.prune_checkpoints()


def _epoch_seed(seed: int, stage: int, epoch: int) -> int:
    """The seed of one epoch's random draws: a pure function of the run's seed, the stage and
    the stage's epoch (0-based), mixed by NumPy's SeedSequence so neighbouring epochs (or
    seeds) share no streams. Below 2**31, as TensorFlow's int64 and JAX's uint32 seeds allow."""
    return int(np.random.SeedSequence([seed, stage, epoch]).generate_state(1)[0] >> 1)


def _reseed_generators(layer: keras.Layer, seed: int, stream: int) -> None:
    """Restart every ``keras.random.SeedGenerator`` inside ``layer`` (dropout, augmentation)
    from ``seed``. Their state lives in variables that ``get_weights`` and so our checkpoints
    leave out; without this a resumed run would start them where they were built. ``stream``
    keeps the model's and the augmenter's generators apart under one epoch seed."""
    states = [v for v in layer.variables if v.name == "seed_generator_state"]
    if not states:
        return
    keys = np.random.SeedSequence([seed, stream]).generate_state(len(states)) >> 1
    for state, key in zip(states, keys, strict=True):  # one key each: no shared streams
        state.assign(np.array([key, 0], dtype=state.dtype))


class _StageProgbar(keras.callbacks.ProgbarLogger):
    """Keras's per-epoch progress line, counting "Epoch k/N" over the stage: ``fit_stage``
    fits one epoch per call, so Keras alone would print "k/k" (or nothing for the first)."""

    def __init__(self, stage_epochs: int) -> None:
        super().__init__()
        self.stage_epochs = stage_epochs

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params({**params, "epochs": self.stage_epochs})


def _features(feat_model: keras.Model, images: np.ndarray, batch_size: int,
              augmenter: keras.Model | None) -> np.ndarray:
    """Pooled backbone features of ``images`` (uint8), optionally of an augmented view
    (augmented batch by batch, then one compiled ``predict`` over the whole view)."""
    x = images.astype("float32")
    if augmenter is not None:
        x = np.concatenate([
            keras.ops.convert_to_numpy(augmenter(x[i:i + batch_size], training=True))
            for i in range(0, len(x), batch_size)
        ]).astype("float32")
    return np.asarray(feat_model.predict(x, batch_size=batch_size, verbose=0), dtype="float32")


def _onehot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype="float32")[np.asarray(labels, dtype=int)]


def _predictions_csv(probs: np.ndarray, arrays: Any, classes: list[str]) -> str:
    pred = probs.argmax(axis=1)
    header = ["path", "label", "pred", *[f"prob_{c}" for c in classes]]
    rows = [[path, classes[int(lab)], classes[int(p)], *[f"{v:.6f}" for v in row]]
            for path, lab, p, row in zip(arrays.paths, arrays.labels, pred, probs, strict=True)]
    return _csv_text(header, rows)


def _add_elapsed(store: dict[str, float], key: str, t0: float, cpu0: float) -> None:
    """Add wall seconds since ``t0`` to ``store[key]`` ("x_s") and CPU seconds since ``cpu0``,
    all threads, to "x_cpu_s": on a shared host wall time swings while CPU time holds."""
    store[key] = store.get(key, 0.0) + time.perf_counter() - t0
    cpu_key = f"{key.removesuffix('_s')}_cpu_s"
    store[cpu_key] = store.get(cpu_key, 0.0) + time.process_time() - cpu0


@contextlib.contextmanager
def _timer(store: dict[str, float], key: str) -> Iterator[None]:
    """The block's wall and CPU seconds, added as :func:`_add_elapsed` does."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        _add_elapsed(store, key, t0, cpu0)


# --------------------------------------------------------------------------- public API

def train_model(
    model_name: str,
    data_dir: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    profile: str | Profile = "cpu",
    out_dir: str | os.PathLike[str] = "artifacts",
    seed: int = 42,
    weights: str | os.PathLike[str] | None = PROFILE_DEFAULT,
    hparams: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strategy: str = "default",
    feature_cache: bool = True,
    progress: bool = True,
) -> Path:
    """Train ``model_name`` under ``profile`` and write ``out_dir/<model>-<profile>-s<seed>/``.

    ``weights`` defaults to the profile's (``"imagenet"`` for paper, None for cpu/smoke);
    None/"none" means random initialisation, a path loads a local file (see
    ``models.build_model``). ``hparams`` is a dict or a ``best.json`` path. A complete run is
    never replaced unless ``overwrite``; ``resume`` continues an interrupted one (and returns
    a complete one untouched). ``feature_cache=False`` trains stage 1 through the frozen
    backbone instead of on cached features (same result in distribution, slower).
    Returns the run folder.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    run_dir = Path(out_dir) / run_name(check_model(model_name), prof.name, seed)
    with _keep_previous_run(run_dir, overwrite), _mark_failed_start(run_dir):
        return _train_model(model_name, data_dir, split_path, prof, out_dir, seed, weights,
                            hparams, resume, overwrite, strategy, feature_cache, progress)


def _config_stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of a file's current version (atomic writes give each version a new inode)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


@contextlib.contextmanager
def _mark_failed_start(run_dir: Path) -> Iterator[None]:
    """If this call wrote the run's config.json and then failed before any epoch was
    checkpointed, set its status to "failed": there is nothing to resume, so the next
    (corrected) command may replace the folder instead of refusing it as interrupted."""
    cfg_path = run_dir / "config.json"
    before = _config_stamp(cfg_path)
    try:
        yield
    except Exception as err:
        stamp = _config_stamp(cfg_path)
        started_here = stamp is not None and stamp != before
        if started_here and not (run_dir / "checkpoints" / "state.json").is_file():
            with contextlib.suppress(JewelNetError, OSError):  # keep the first error
                cfg = read_json(cfg_path)
                if isinstance(cfg, dict) and cfg.get("status") == "running":
                    cfg.update(status="failed", failed_at=_now(), error=str(err))
                    atomic_write_json(cfg_path, cfg)
        raise


@contextlib.contextmanager
def _keep_previous_run(run_dir: Path, overwrite: bool) -> Iterator[None]:
    """With --overwrite, move the old run aside and bring it back if the new one fails, so a
    full disk or a crash never loses a finished run; drop it once the new run is complete."""
    if not (overwrite and (run_dir / "config.json").is_file()):
        yield
        return
    backup = run_dir.with_name(f".{run_dir.name}.previous")
    try:
        if backup.exists():
            shutil.rmtree(backup)
        os.rename(run_dir, backup)
    except OSError as err:
        raise JewelNetError(f"cannot move the previous run {run_dir} aside: "
                            f"{err.strerror or err}") from err
    try:
        yield
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        os.rename(backup, run_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _train_model(
    model_name: str,
    data_dir: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    profile: Profile,
    out_dir: str | os.PathLike[str],
    seed: int,
    weights: str | os.PathLike[str] | None,
    hparams: Mapping[str, Any] | str | os.PathLike[str] | None,
    resume: bool,
    overwrite: bool,
    strategy: str,
    feature_cache: bool,
    progress: bool,
) -> Path:
    """The body of :func:`train_model`, which resolves the profile, owns the defaults and
    guards an overwritten run; every argument is passed."""
    t_start = time.perf_counter()
    prof = profile
    if strategy not in ("default", "mirrored"):
        raise JewelNetError(f"unknown strategy {strategy!r}; choose default or mirrored")
    hp = load_hparams(hparams, model_name)
    model_hp = models.resolve_hparams(model_name, hp)
    if weights == PROFILE_DEFAULT:
        weights = prof.default_weights
    weights_label = _weights_label(weights)
    weights_kind = models.weights_kind(model_name, weights)
    weights_source: dict[str, Any] = {}
    if weights_kind == "pretext":
        # Our own backbone for this profile's recipe: the run names the source ("pretext")
        # and records which cached file and recipe it was; a missing file is a clear error.
        weights_source = pretrain.weights_record(model_name, prof)
        weights = weights_source["weights_file"]
        weights_label = "pretext"
    elif weights_kind in ("model_file", "backbone_file", "pretext_file"):
        weights_label = str(Path(weights).resolve())
    elif weights_kind == "none":
        weights_label = "none"
    elif weights_kind == "imagenet":
        models.imagenet_weights_file(model_name)  # fail before loading any data
    transfer = MODEL_SPECS[model_name].two_stage
    # A profile without cached views (paper) trains stage 1 on fresh augmentation.
    use_cache = bool(feature_cache and transfer and prof.feature_cache_views > 0)

    split_path = Path(split_path)
    if not split_path.is_file():
        raise JewelNetError(f"split manifest not found: {split_path}; create it with "
                            f"`jewelnet split {data_dir} --out {split_path}`")
    manifest = data.load_manifest(split_path)
    data_dir = Path(data_dir)
    _check_data_dir(manifest, data_dir, split_path)
    classes = list(manifest["classes"])
    num_classes = len(classes)
    size = prof.input_size(model_name)
    batch_size = int(hp.get("batch_size", prof.batch_size))
    lr = float(hp.get("learning_rate", prof.learning_rate))
    aug_strength = float(hp.get("aug_strength", 1.0))
    aug_cfg = prof.augmentation.scaled(aug_strength)

    run_dir = Path(out_dir) / run_name(model_name, prof.name, seed)
    cfg: dict[str, Any] = {
        "model": model_name, "profile": prof.to_dict(), "seed": int(seed),
        "weights": weights_label, **weights_source, "hparams": hp, "model_hparams": model_hp,
        "data_dir": str(data_dir), "split": str(split_path), "split_seed": manifest.get("seed"),
        "data_hash": data.data_hash(manifest), "classes": classes, "input_size": size,
        "batch_size": batch_size, "learning_rate": lr, "lr_decay": prof.lr_decay,
        "fine_tune_lr": prof.fine_tune_lr, "aug_strength": aug_strength,
        "augmentation": {k: v for k, v in vars(aug_cfg).items()},
        "feature_cache": use_cache, "feature_cache_views": prof.feature_cache_views if use_cache
        else 0, "strategy": strategy, "max_train_per_class": prof.max_train_per_class,
        "epoch_repeats": prof.epoch_repeats,
        "jewelnet_version": __version__, "library_versions": library_versions(),
    }
    saved = _prepare_run_dir(run_dir, cfg, resume, overwrite)
    if saved == "complete":
        if progress:
            print(f"[{run_dir.name}] already complete; nothing to resume", flush=True)
        return run_dir
    # Decoded (and every file's hash checked) before the run folder exists: a split made for
    # another folder, or a changed photo, must not leave a half-started run behind.
    train = data.load_split_arrays(manifest, "train", size, data_dir=data_dir,
                                   max_per_class=prof.max_train_per_class, seed=int(seed))
    val = data.load_split_arrays(manifest, "val", size, data_dir=data_dir)
    test = data.load_split_arrays(manifest, "test", size, data_dir=data_dir)
    if len(train) == 0 or len(val) == 0:
        raise JewelNetError(f"split manifest {split_path} has an empty train or val subset")
    resuming = isinstance(saved, dict)
    if resuming:
        cfg["started_at"] = read_json(run_dir / "config.json").get("started_at", _now())
        cfg["resumed_at"] = _now()
    else:
        cfg["started_at"] = _now()
    cfg["status"] = "running"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JewelNetError(f"cannot create the run folder {run_dir}: "
                            f"{err.strerror or err}") from err
    atomic_write_json(run_dir / "config.json", cfg)

    trainer = _Trainer(model_name, prof, run_dir, int(seed), hp, progress)
    if resuming:
        trainer.state = saved
    st = trainer.state
    # One seed fixes initialisation (the split's own seed is in the manifest); fit_stage
    # re-seeds shuffling, augmentation and dropout at each epoch from (seed, stage, epoch), so
    # a resumed run continues the random streams of the uninterrupted run.
    set_seed(int(seed))
    _enable_determinism()

    cw = data.class_weights(train.labels, num_classes)
    cfg.update(num_train=len(train), num_val=len(val), num_test=len(test),
               class_weights={classes[k]: v for k, v in cw.items()})

    with _strategy_scope(strategy):
        model = models.build_model(model_name, num_classes=num_classes, input_size=size,
                                   weights=weights, hparams=hp)
        trainer.model = model
        if resuming:
            trainer.restore_weights()
        cfg["params"] = models.count_params(model)
        cfg["flops"] = models.flops(model)
        atomic_write_json(run_dir / "config.json", cfg)

        val_ds = data.make_dataset(val.images, val.labels, num_classes, batch_size,
                                   training=False, seed=int(seed))

        augmenter = augment.build_augmenter(aug_cfg, seed=int(seed))

        def image_data(epoch_seed: int) -> Any:
            """One epoch of shuffled, augmented images, its draws fixed by ``epoch_seed``."""
            _reseed_generators(augmenter, epoch_seed, stream=1)
            return _repeat(data.make_dataset(train.images, train.labels, num_classes,
                                             batch_size, training=True, augment=augmenter,
                                             seed=epoch_seed), prof.epoch_repeats)

        s1_epochs = prof.stage1_epochs if transfer else prof.max_epochs
        if 1 not in st["stages_done"]:
            models.set_stage(model, 1)
            if use_cache:
                feats, val_feats = _cached_features(trainer, model, train, val, aug_cfg,
                                                    batch_size)
                head = models.head_model(model)
                sample_w = np.array([cw[int(k)] for k in train.labels], dtype="float32")
                onehot = _onehot(train.labels, num_classes)

                def cached_views(epoch_seed: int) -> _CachedViews:
                    return _CachedViews(feats, onehot, sample_w, batch_size, seed=epoch_seed,
                                        repeats=prof.epoch_repeats)
                trainer.log(f"stage 1: head on cached features ({feats.shape[0]} views x "
                            f"{feats.shape[1]} images), up to {s1_epochs} epochs")
                trainer.fit_stage(1, head, s1_epochs, lr, cached_views,
                                  (val_feats, _onehot(val.labels, num_classes)), None, resuming)
            else:
                what = "frozen backbone" if transfer else "all layers"
                trainer.log(f"stage 1: {what}, up to {s1_epochs} epochs at {size} px")
                trainer.fit_stage(1, model, s1_epochs, lr, image_data, val_ds, cw, resuming)
            (run_dir / "checkpoints" / "features.npz").unlink(missing_ok=True)
        if transfer and prof.stage2_epochs > 0 and 2 not in st["stages_done"]:
            if st.get("stage") != 2 or st["stage_epochs_done"] == 0:
                trainer.restore_best()  # stage 2 starts from stage 1's best weights
            tail = model_hp["trainable_tail"]
            models.set_stage(model, 2, trainable_tail=tail)
            trainer.log(f"stage 2: head + last {tail} backbone layers (BatchNorm frozen), up to "
                        f"{prof.stage2_epochs} epochs at lr {prof.fine_tune_lr:g}")
            trainer.fit_stage(2, model, prof.stage2_epochs, prof.fine_tune_lr, image_data,
                              val_ds, cw, resuming and st.get("stage") == 2)

        _finish(trainer, cfg, train, val, test, batch_size, t_start)
    return run_dir


def _cached_features(trainer: _Trainer, model: keras.Model, train: Any, val: Any,
                     aug_cfg: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """K augmented views of the training images and the plain val images through the frozen
    backbone; kept in checkpoints/features.npz until stage 1 ends so --resume reuses them."""
    path = trainer.ckpt_dir / "features.npz"
    views = max(1, int(trainer.profile.feature_cache_views))
    if path.is_file():
        with np.load(path) as saved:
            if saved["train"].shape[:2] == (views, len(train)):
                return saved["train"], saved["val"]
    timings = trainer.state["timings"]
    with _timer(timings, "feature_cache_s"):
        feat_model = models.feature_model(model)
        feat_model.run_eagerly = trainer.profile.run_eagerly
        feats = np.stack([
            _features(feat_model, train.images, batch_size,
                      augment.build_augmenter(aug_cfg, seed=trainer.seed * 1000 + k))
            for k in range(views)
        ])
        val_feats = _features(feat_model, val.images, batch_size, None)
        _save_npz(path, train=feats, val=val_feats)
    trainer.log(f"cached {views} views of {len(train)} training images in "
                f"{timings['feature_cache_s']:.1f} s")
    trainer.save_state()
    return feats, val_feats


def _finish(trainer: _Trainer, cfg: dict[str, Any], train: Any, val: Any, test: Any,
            batch_size: int, t_start: float) -> None:
    """Predict with the best checkpoint and write the remaining run files, config last."""
    st, run_dir, prof = trainer.state, trainer.run_dir, trainer.profile
    trainer.restore_best()
    # model.keras from a fresh, uncompiled copy: the best weights without optimizer state.
    best = models.build_model(trainer.model_name, num_classes=len(cfg["classes"]),
                              input_size=cfg["input_size"], weights=None, hparams=trainer.hparams)
    best.set_weights(trainer.model.get_weights())
    best.run_eagerly = trainer.profile.run_eagerly
    _atomic_keras_save(best, run_dir / "model.keras")
    classes = cfg["classes"]
    metrics: dict[str, Any] = {"best_epoch": st["best_epoch"], "best_stage": st["best_stage"]}
    for name, arrays in (("val", val), ("test", test)):
        if len(arrays) == 0:
            continue
        probs = np.asarray(best.predict(arrays.images.astype("float32"),
                                        batch_size=batch_size, verbose=0), dtype="float64")
        atomic_write_text(run_dir / f"predictions_{name}.csv",
                          _predictions_csv(probs, arrays, classes))
        metrics[f"{name}_accuracy"] = float(np.mean(probs.argmax(1) == arrays.labels))
        metrics[f"num_{name}"] = len(arrays)
    atomic_write_json(run_dir / "metrics.json", metrics)

    t = st["timings"]
    train_s = t["feature_cache_s"] + t["stage1_s"] + t["stage2_s"]
    epochs = {f"stage{k}": v for k, v in sorted(st["epochs"].items())}
    stage_s = {"stage1": t["stage1_s"], "stage2": t["stage2_s"]}
    # Numeric top-level keys with "stage"/"feature" in their name are seconds only: readers
    # may sum them for a total when they do not know "train_s".
    timings = {
        "feature_cache_s": round(t["feature_cache_s"], 3),
        "stage1_s": round(t["stage1_s"], 3),
        "stage2_s": round(t["stage2_s"], 3),
        "train_s": round(train_s, 3),
        "checkpoint_s": round(t["checkpoint_s"], 3),
        "wall_s_this_session": round(time.perf_counter() - t_start, 3),
        "epochs": epochs,
        "stopped_early": {f"stage{k}": v for k, v in sorted(st["stopped_early"].items())},
        # CPU seconds of this process (all threads): the same work costs the same CPU time
        # when a shared host slows the wall clock (see bench.bench_feature_cache).
        "cpu_s": {k: round(t.get(f"{k}_cpu_s", 0.0), 3)
                  for k in ("feature_cache", "stage1", "stage2")},
        "images_per_s": {k: round(len(train) * prof.epoch_repeats * epochs.get(k, 0) / s, 2)
                         for k, s in stage_s.items() if s > 0 and epochs.get(k)},
        "cache_views": cfg["feature_cache_views"],
        "num_train": len(train),
    }
    atomic_write_json(run_dir / "timings.json", timings)
    for path in [*trainer.ckpt_dir.glob("last-e*"), trainer.ckpt_dir / "features.npz",
                 trainer.ckpt_dir / "best.npz"]:  # only --resume needs them
        path.unlink(missing_ok=True)
    cfg.update(status="complete", finished_at=_now(), best_epoch=st["best_epoch"],
               val_accuracy=metrics.get("val_accuracy"), test_accuracy=metrics.get("test_accuracy"))
    atomic_write_json(run_dir / "config.json", cfg)
    trainer.log(f"done: val {metrics.get('val_accuracy', float('nan')):.3f}, test "
                f"{metrics.get('test_accuracy', float('nan')):.3f}, train {train_s:.0f} s")


def run_train(args: Any) -> int:
    """``jewelnet train --model M --data DIR --split SPLIT [...]``."""
    weights = args.weights if args.weights is not None else PROFILE_DEFAULT
    profile = get_profile(args.profile)
    views = getattr(args, "cache_views", None)
    if views is not None:
        if views < 1:
            raise JewelNetError(f"--cache-views must be at least 1, got {views}; to train stage "
                                "1 through the frozen backbone use --no-feature-cache")
        # The run records the changed profile (config.json), so --resume notices a change.
        profile = dataclasses.replace(profile, feature_cache_views=views)
    run_dir = train_model(
        args.model, args.data, args.split,
        profile=profile,
        out_dir=args.out, seed=args.seed, weights=weights, hparams=args.hparams,
        resume=args.resume, overwrite=args.overwrite, strategy=args.strategy,
        feature_cache=not args.no_feature_cache,
        progress=True,
    )
    print(f"Run written to {run_dir}")
    return 0


__all__ = ["train_model", "run_train", "load_hparams", "ThesisProtocol", "PROFILE_DEFAULT"]
