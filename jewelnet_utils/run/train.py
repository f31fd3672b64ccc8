"""Training: one protocol for all four models (thesis 4.6, Table 4.4, Listing C.2).

A run is a few public steps (``open_run``, then ``TrainingRun.build_model``,
``compile_model``, ``TrainingRun.fit_stage`` per stage and ``TrainingRun.finish``; see "public
API" below). ``train_model`` (``jewelnet train``) calls them in order and notebooks 03-06 call
them one per cell, so both train the same way. A run writes one run folder (ARCHITECTURE.md)
and can be killed at any moment:
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

No TensorFlow import at module level: under JAX, ``pipeline.make_dataset`` yields a PyDataset and
everything here uses Keras 3 APIs; only ``strategy="mirrored"`` needs TensorFlow.
"""

from __future__ import annotations

import contextlib
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
from ..contracts import artifacts
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
    library_versions,
    read_json,
    set_seed,
)
from ..split import augment, pipeline, splitting
from . import models, pretrain

PROFILE_DEFAULT = "profile"  # ``weights`` sentinel: use the profile's default_weights
STATE_VERSION = 1
HISTORY_COLUMNS = artifacts.HISTORY_COLUMNS
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
        best = artifacts.read_tuning_result(hparams)
        hparams = {"model": best.model, "hparams": best.hparams}
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


def _changed_settings(old: dict[str, Any], cfg: dict[str, Any],
                      ignore: tuple[str, ...] = ()) -> list[str]:
    """The fingerprint settings of the run in ``old`` that differ from ``cfg``, but ``ignore``."""
    then, now = _fingerprint(old), _fingerprint(cfg)
    return [k for k in now if k not in ignore and then.get(k) != now[k]]


def _prepare_run_dir(run_dir: Path, cfg: dict[str, Any], resume: bool,
                     overwrite: bool) -> dict[str, Any] | None | str | list[str]:
    """Apply the overwrite/resume rules. Returns the saved state to resume from, None for a
    fresh start, "complete" when ``resume`` finds a finished run of these settings, or the
    settings that differ when it finds one of other settings."""
    cfg_path = artifacts.config_file(run_dir)
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
    old = artifacts.read_config(run_dir).fields
    status = old["status"]
    if status == "failed":
        # A start that failed before its first epoch (see _mark_failed_start): nothing in it
        # is worth keeping, so the corrected command simply replaces it.
        shutil.rmtree(run_dir)
        return None
    if status == "complete":
        if resume:
            # A finished run of other settings (a profile changed since, say) is trained
            # again. Weights and data are left to the caller: a notebook asks for ``RETRAIN``
            # rather than replace a run made from other weights or images.
            return _changed_settings(old, cfg, ignore=("weights", "data_hash")) or "complete"
        raise JewelNetError(f"{run_dir} already holds a complete run; pass --overwrite to "
                            "replace it (or --resume to keep it)")
    if not resume:
        raise JewelNetError(f"{run_dir} holds an interrupted run (status {status!r}); pass "
                            "--resume to continue it or --overwrite to start again")
    changed = _changed_settings(old, cfg)
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
    here; changed file contents later, by ``pipeline.load_split_arrays``' hash check)."""
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


def _make_strategy(strategy: str) -> Any:
    """The tf.distribute strategy a run's steps enter; None for Keras's default."""
    if strategy == "default":
        return None
    if strategy == "mirrored":
        if keras.backend.backend() != "tensorflow":
            raise JewelNetError("strategy 'mirrored' needs the TensorFlow backend; "
                                f"Keras runs on {keras.backend.backend()}")
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
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
    """One run's protocol state, checkpoints and epoch loop; :class:`TrainingRun` is the
    public face."""

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
        artifacts.write_history(self.run_dir, self.state["history"])

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

    def fit_stage(self, stage: int, fitted: keras.Model, epochs: int, lr: float,
                  epoch_data: Callable[[int], Any], val_data: Any,
                  class_weight: dict[int, float] | None, resuming: bool) -> None:
        """Fit ``fitted`` for the stage's remaining epochs, one ``fit`` call per epoch.

        ``epoch_data(seed)`` builds one epoch's training data. Before each epoch every random
        stream (data order, augmentation, dropout) restarts from :func:`_epoch_seed`, so the
        epoch draws the same numbers whether or not the run was killed and resumed before it.
        ``fitted`` comes compiled (``compile_model``, or sharing the full model's optimizer); the
        compiled train function is kept across the calls (no recompile).
        """
        st = self.state
        if stage in st["stages_done"] or epochs <= 0:
            return
        if st["stage"] != stage:
            st.update(stage=stage, stage_epochs_done=0, **_stage_counters())
        if fitted.optimizer is None:
            raise JewelNetError("compile the model first (train.compile_model)")
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
# One run is a short sequence of steps. ``train_model`` (the CLI) calls them in order, and
# notebooks 03-06 call the same steps one cell at a time:
#
#     run = open_run(model_name, data_dir, split_path, profile, out_dir, seed=...)
#     model = run.build_model()
#     compile_model(model, run.learning_rate(1), run_eagerly=run.profile.run_eagerly)
#     run.fit_stage(1, model)
#     models.set_stage(model, 2, trainable_tail=run.trainable_tail)   # transfer models only
#     compile_model(model, run.learning_rate(2), run_eagerly=run.profile.run_eagerly)
#     run.fit_stage(2, model)
#     run.finish(model)

LOSS = "categorical_crossentropy"  # labels arrive one-hot (pipeline.make_dataset)


def compile_model(model: keras.Model, learning_rate: float, run_eagerly: bool = False) -> None:
    """Adam at ``learning_rate``, cross-entropy on one-hot labels, accuracy (Table 4.4).

    The project's one compile: training, tuning and the benchmarks call it. Keras 3's Adam has
    no ``decay`` argument; while a stage is fitted, :class:`ThesisProtocol` sets the rate before
    every update (the thesis's decay and the plateau halving)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=LOSS, metrics=["accuracy"], run_eagerly=run_eagerly)


def open_run(
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
) -> TrainingRun:
    """The first step of a run: check every input, decode the split's images and open the run
    folder ``out_dir/<model>-<profile>-s<seed>/`` (its config.json says "running").

    Every input is checked before the folder exists. ``weights`` defaults to the profile's
    (``"imagenet"`` for paper, None for cpu/smoke); None/"none" means random initialisation, a
    path loads a local file (see ``models.build_model``). ``hparams`` is a dict or a
    ``best.json`` path. With ``resume`` a finished run comes back with ``complete`` set
    (nothing is loaded or trained), an interrupted one with its checkpoint state, and one
    finished with other settings (a changed profile) is trained again; a complete run is
    otherwise never replaced unless ``overwrite``, and the old run is kept aside until
    :meth:`TrainingRun.finish` and brought back if a step fails. ``feature_cache=False``
    trains stage 1 through the frozen backbone instead of on cached features (same result in
    distribution, slower).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    run_dir = Path(out_dir) / run_name(check_model(model_name), prof.name, seed)
    previous = _move_previous_run(run_dir) if overwrite else None
    try:
        with _mark_failed_start(run_dir):
            run = _open(model_name, data_dir, split_path, prof, out_dir, int(seed), weights,
                        hparams, resume, overwrite, strategy, feature_cache, progress)
    except BaseException:
        _bring_back(run_dir, previous)
        raise
    run._previous = previous or run._previous
    return run


def _resolve_weights(model_name: str, weights: Any,
                     prof: Profile) -> tuple[Any, str, dict[str, Any]]:
    """(weights to build with, the label config.json records, extra provenance fields)."""
    if weights == PROFILE_DEFAULT:
        weights = prof.default_weights
    kind = models.weights_kind(model_name, weights)
    if kind == "pretext":
        # Our own backbone for this profile's recipe: the run names the source ("pretext")
        # and records which cached file and recipe it was; a missing file is a clear error.
        source = pretrain.weights_record(model_name, prof)
        return source["weights_file"], "pretext", source
    if kind in ("model_file", "backbone_file", "pretext_file"):
        return weights, str(Path(weights).resolve()), {}
    if kind == "imagenet":
        models.imagenet_weights_file(model_name)  # fail before loading any data
    return weights, "none" if kind == "none" else _weights_label(weights), {}


def _open(model_name: str, data_dir: Any, split_path: Any, prof: Profile, out_dir: Any,
          seed: int, weights: Any, hparams: Any, resume: bool, overwrite: bool, strategy: str,
          feature_cache: bool, progress: bool) -> TrainingRun:
    """The body of :func:`open_run`, which guards the run folder around it."""
    t_start = time.perf_counter()
    if strategy not in ("default", "mirrored"):
        raise JewelNetError(f"unknown strategy {strategy!r}; choose default or mirrored")
    hp = load_hparams(hparams, model_name)
    weights, weights_label, weights_source = _resolve_weights(model_name, weights, prof)
    split_path, data_dir = Path(split_path), Path(data_dir)
    if not split_path.is_file():
        raise JewelNetError(f"split manifest not found: {split_path}; create it with "
                            f"`jewelnet split {data_dir} --out {split_path}`")
    manifest = splitting.load_manifest(split_path)
    _check_data_dir(manifest, data_dir, split_path)
    # A profile without cached views (paper) trains stage 1 on fresh augmentation.
    use_cache = bool(feature_cache and MODEL_SPECS[model_name].two_stage
                     and prof.feature_cache_views > 0)
    cfg = _run_config(model_name, prof, seed, hp, manifest, data_dir, split_path, strategy,
                      use_cache)
    cfg.update(weights=weights_label, **weights_source)
    run_dir = Path(out_dir) / run_name(model_name, prof.name, seed)
    saved = _prepare_run_dir(run_dir, cfg, resume, overwrite)
    run = TrainingRun(model_name, prof, run_dir, seed, hp, weights, cfg, progress, t_start)
    if saved == "complete":
        run._reopen_complete()
        return run
    run._load_splits(manifest, data_dir)
    if isinstance(saved, list):
        # The old run's numbers belong to settings this profile no longer has, so a rebuild
        # must not show them as its own. Kept aside, as with --overwrite, until the new run
        # is complete.
        run.log(f"finished with other {', '.join(saved)}; training it again")
        run._previous, saved = _move_previous_run(run_dir), None
    try:
        run._start(saved)
    except BaseException:
        _bring_back(run_dir, run._previous)
        raise
    return run


def _run_config(model_name: str, prof: Profile, seed: int, hp: dict[str, Any],
                manifest: dict[str, Any], data_dir: Path, split_path: Path, strategy: str,
                use_cache: bool) -> dict[str, Any]:
    """What config.json records about the run before it starts (weights are added after)."""
    aug_strength = float(hp.get("aug_strength", 1.0))
    return {
        "model": model_name, "profile": prof.to_dict(), "seed": seed,
        "hparams": hp,
        # The profile's stage-2 tail unless the hyperparameters (a tuning result) set one.
        "model_hparams": models.resolve_hparams(
            model_name, {"trainable_tail": prof.trainable_tail(model_name), **hp}),
        "data_dir": str(data_dir), "split": str(split_path), "split_seed": manifest.get("seed"),
        "data_hash": splitting.data_hash(manifest), "classes": list(manifest["classes"]),
        "input_size": prof.input_size(model_name),
        "batch_size": int(hp.get("batch_size", prof.batch_size)),
        "learning_rate": float(hp.get("learning_rate", prof.learning_rate)),
        "lr_decay": prof.lr_decay, "fine_tune_lr": prof.fine_tune_lr,
        "aug_strength": aug_strength,
        "augmentation": dict(vars(prof.augmentation.scaled(aug_strength))),
        "feature_cache": use_cache,
        "feature_cache_views": prof.feature_cache_views if use_cache else 0,
        "strategy": strategy, "max_train_per_class": prof.max_train_per_class,
        "epoch_repeats": prof.epoch_repeats,
        "jewelnet_version": __version__, "library_versions": library_versions(),
    }


class TrainingRun:
    """One run folder, trained step by step; :func:`open_run` makes it.

    ``complete`` is True once :meth:`finish` has written the run (or when ``open_run`` found it
    finished); ``resumed`` when it continues an interrupted run from its checkpoint.
    """

    def __init__(self, model_name: str, profile: Profile, run_dir: Path, seed: int,
                 hparams: dict[str, Any], weights: Any, cfg: dict[str, Any], progress: bool,
                 t_start: float) -> None:
        self.model_name, self.profile, self.run_dir, self.seed = model_name, profile, run_dir, seed
        self.hparams, self.weights, self.cfg = hparams, weights, cfg
        self.complete = self.resumed = False
        self._trainer = _Trainer(model_name, profile, run_dir, seed, hparams, progress)
        self._t_start = t_start
        self._previous: Path | None = None  # the overwritten run, kept until finish
        self._strategy: Any = None
        self._splits: tuple[Any, Any, Any] | None = None  # train, val, test arrays
        self._class_weights: dict[int, float] = {}
        self._val_data: Any = None
        self._augmenter: keras.Model | None = None

    # ---- what the run is
    @property
    def two_stage(self) -> bool:
        """True for the transfer models: head on a frozen backbone, then fine-tuning."""
        return MODEL_SPECS[self.model_name].two_stage

    @property
    def trainable_tail(self) -> int:
        """How many of the backbone's last layers stage 2 unfreezes (Table B.1 or hparams)."""
        return int(self.cfg["model_hparams"]["trainable_tail"] or 0)

    @property
    def state(self) -> dict[str, Any]:
        """The protocol's state: epochs, best epoch, stages done (checkpoints/state.json)."""
        return self._trainer.state

    def learning_rate(self, stage: int) -> float:
        """Stage 1's rate (profile or hparams); stage 2 fine-tunes at the profile's smaller one."""
        return float(self.cfg["learning_rate"] if stage == 1 else self.cfg["fine_tune_lr"])

    def stage_epochs(self, stage: int) -> int:
        """The most epochs a stage may run (early stopping may end it sooner)."""
        if stage == 2:
            return self.profile.stage2_epochs_for(self.model_name)
        return self.profile.stage1_epochs if self.two_stage else self.profile.max_epochs

    def settings(self) -> dict[str, Any]:
        """The protocol this run trains under, as the chapters show it before the first fit:
        image counts, input and batch size, the rate with its decay and plateau halving, and
        the early-stopping patience."""
        return {
            "training / validation / test images":
                f"{self.cfg['num_train']} / {self.cfg['num_val']} / {self.cfg['num_test']}",
            "input size (px)": self.cfg["input_size"],
            "batch size": self.cfg["batch_size"],
            "learning rate (stage 1)": self.learning_rate(1),
            "decay per update": self.profile.lr_decay,
            "plateau: factor, patience (val_loss)":
                f"{self.profile.reduce_lr_factor}, {self.profile.reduce_lr_patience}",
            "early stop patience (val_accuracy)": self.profile.early_stop_patience,
        }

    def history(self, stage: int | None = None) -> list[dict[str, Any]]:
        """The epochs trained so far (history.csv's rows), of one stage or all."""
        return [row for row in self.state["history"] if stage in (None, row["stage"])]

    def log(self, text: str) -> None:
        self._trainer.log(text)

    # ---- the steps
    def build_model(self) -> keras.Model:
        """The run's network (``models.build_model``) with the weights it continues from:
        the seed's initialisation, an interrupted run's checkpoint, or a finished run's best."""
        with self._step():
            set_seed(self.seed)  # one seed fixes the initial weights
            model = models.build_model(
                self.model_name, num_classes=len(self.cfg["classes"]),
                input_size=self.cfg["input_size"], hparams=self.hparams,
                weights=None if self.complete else self.weights)
            self._trainer.model = model
            if self.complete:
                model.set_weights(models.load_model(self.run_dir / "model.keras").get_weights())
                return model
            if self.resumed:
                self._trainer.restore_weights()
            self.cfg.update(params=models.count_params(model), flops=models.flops(model))
            artifacts.write_config(self.run_dir, self.cfg)
        return model

    def fit_stage(self, stage: int, model: keras.Model) -> list[dict[str, Any]]:
        """Fit one stage under the thesis protocol and return its epochs (history rows).

        ``model`` is the one :meth:`build_model` returned, compiled at
        ``learning_rate(stage)`` and frozen for the stage (``models.set_stage``). A stage
        this run already finished is not trained again; an interrupted one continues from its
        last checkpoint (weights, optimizer and the protocol's counters)."""
        self._check_fit(stage, model)
        if stage not in self.state["stages_done"] and self.stage_epochs(stage) > 0:
            with self._step():
                self._prepare_inputs()
                if stage == 1:
                    self._fit_first_stage(model)
                else:
                    self._fit_second_stage(model)
        return self.history(stage)

    def finish(self, model: keras.Model) -> Path:
        """Load the best epoch's weights into ``model``, predict the val and test images and
        write model.keras, the predictions, metrics.json and timings.json, then config.json
        with status "complete". A finished run is left as it is. Returns the run folder."""
        if model is not self._trainer.model:
            raise JewelNetError("finish takes the model that this run's build_model() returned")
        if not self.complete:
            missing = [s for s in (1, 2) if self.stage_epochs(s) > 0
                       and s not in self.state["stages_done"]]
            if missing:
                raise JewelNetError(f"{self.run_dir.name}: stage {missing[0]} is not fitted yet; "
                                    f"call fit_stage({missing[0]}, model) first")
            with self._step():
                _finish(self._trainer, self.cfg, *self._splits, int(self.cfg["batch_size"]),
                        self._t_start)
            self.complete = True
        if self._previous is not None:  # the new run is complete: the old one may go
            shutil.rmtree(self._previous, ignore_errors=True)
            self._previous = None
        return self.run_dir

    # ---- opening (called by open_run)
    def _reopen_complete(self) -> None:
        """A finished run: its own config and recorded epochs, nothing to load or train."""
        self.complete = True
        self.cfg = artifacts.read_config(self.run_dir).fields
        self.hparams = dict(self.cfg.get("hparams") or {})
        state_path = self.run_dir / "checkpoints" / "state.json"
        if state_path.is_file():
            self._trainer.state = read_json(state_path)

    def _load_splits(self, manifest: dict[str, Any], data_dir: Path) -> None:
        # Decoded (and every file's hash checked) before the run folder exists: a split made
        # for another folder, or a changed photo, must not leave a half-started run behind.
        size, seed = self.cfg["input_size"], self.seed
        train = pipeline.load_split_arrays(manifest, "train", size, data_dir=data_dir,
                                       max_per_class=self.profile.max_train_per_class, seed=seed)
        val = pipeline.load_split_arrays(manifest, "val", size, data_dir=data_dir)
        test = pipeline.load_split_arrays(manifest, "test", size, data_dir=data_dir)
        if len(train) == 0 or len(val) == 0:
            raise JewelNetError(f"split manifest {self.cfg['split']} has an empty train or val "
                                "subset")
        self._splits = (train, val, test)
        classes = self.cfg["classes"]
        self._class_weights = pipeline.class_weights(train.labels, len(classes))
        self.cfg.update(num_train=len(train), num_val=len(val), num_test=len(test),
                        class_weights={classes[k]: v for k, v in self._class_weights.items()})

    def _start(self, saved: dict[str, Any] | None) -> None:
        """Write config.json ("running"); continue from ``saved`` checkpoint state if any."""
        if isinstance(saved, dict):
            self.resumed = True
            self._trainer.state = saved
            old = artifacts.read_config(self.run_dir).fields
            self.cfg.update(started_at=old.get("started_at", _now()), resumed_at=_now())
        else:
            self.cfg["started_at"] = _now()
        self.cfg["status"] = "running"
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JewelNetError(f"cannot create the run folder {self.run_dir}: "
                                f"{err.strerror or err}") from err
        artifacts.write_config(self.run_dir, self.cfg)
        _enable_determinism()

    def distribution_scope(self) -> contextlib.AbstractContextManager:
        """The scope of the run's tf.distribute strategy ("mirrored"), in which its model and
        optimizer must be made; a no-op for the default strategy."""
        if self._strategy is None:
            self._strategy = _make_strategy(self.cfg["strategy"])
        return self._strategy.scope() if self._strategy else contextlib.nullcontext()

    # ---- helpers of the steps
    @contextlib.contextmanager
    def _step(self) -> Iterator[None]:
        """Run a step inside the run's distribution strategy. If it fails, an overwritten run
        comes back; a start that never reached its first checkpoint is marked "failed"."""
        try:
            with self.distribution_scope():
                yield
        except BaseException as err:
            if self._previous is not None:
                _bring_back(self.run_dir, self._previous)
                self._previous = None
            elif isinstance(err, Exception) and not self.complete:
                _mark_failed(self.run_dir, err)
            raise

    def _check_fit(self, stage: int, model: keras.Model) -> None:
        """Clear errors for a step called out of order (as a notebook reader might)."""
        if stage not in (1, 2):
            raise JewelNetError(f"stage must be 1 or 2, got {stage!r}")
        if stage == 2 and not self.two_stage:
            raise JewelNetError(f"{self.model_name} trains in one stage; it has no stage 2")
        if model is not self._trainer.model:
            raise JewelNetError("fit_stage trains the model that this run's build_model() "
                                "returned")
        if getattr(model, "optimizer", None) is None:
            raise JewelNetError(f"compile the model before stage {stage}: "
                                f"compile_model(model, run.learning_rate({stage}))")
        compiled, wanted = _float(model.optimizer.learning_rate), self.learning_rate(stage)
        if not math.isclose(compiled, wanted, rel_tol=1e-5):
            raise JewelNetError(f"the model is compiled at learning rate {compiled:g}, but stage "
                                f"{stage} starts at {wanted:g}: compile_model(model, "
                                f"run.learning_rate({stage}))")
        backbone = models.backbone_of(model)
        in_backbone = {id(v) for v in backbone.weights} if backbone is not None else set()
        unfrozen = any(id(v) in in_backbone for v in model.trainable_weights)
        if backbone is not None and unfrozen != (stage == 2 and self.trainable_tail > 0):
            raise JewelNetError(f"the backbone is {'partly trainable' if unfrozen else 'frozen'}"
                                f", which stage {stage} does not expect: call "
                                f"models.set_stage(model, {stage}) first")

    def _prepare_inputs(self) -> None:
        """The validation pipeline and the augmenter, built once, at the first fit."""
        if self._val_data is None:
            _, val, _ = self._splits
            self._val_data = pipeline.make_dataset(val.images, val.labels, len(self.cfg["classes"]),
                                               int(self.cfg["batch_size"]), training=False,
                                               seed=self.seed)
            aug_cfg = self.profile.augmentation.scaled(float(self.cfg["aug_strength"]))
            self._augmenter = augment.build_augmenter(aug_cfg, seed=self.seed)

    def _image_epoch(self, epoch_seed: int) -> Any:
        """One epoch of shuffled, augmented images, its draws fixed by ``epoch_seed``."""
        train = self._splits[0]
        _reseed_generators(self._augmenter, epoch_seed, stream=1)
        return _repeat(pipeline.make_dataset(train.images, train.labels, len(self.cfg["classes"]),
                                         int(self.cfg["batch_size"]), training=True,
                                         augment=self._augmenter, seed=epoch_seed),
                       self.profile.epoch_repeats)

    def _fit_first_stage(self, model: keras.Model) -> None:
        epochs, lr = self.stage_epochs(1), self.learning_rate(1)
        if self.cfg["feature_cache"]:
            self._fit_head_on_cached_features(model, epochs, lr)
        else:
            what = "frozen backbone" if self.two_stage else "all layers"
            self.log(f"stage 1: {what}, up to {epochs} epochs at {self.cfg['input_size']} px")
            self._trainer.fit_stage(1, model, epochs, lr, self._image_epoch, self._val_data,
                                    self._class_weights, self.resumed)
        (self.run_dir / "checkpoints" / "features.npz").unlink(missing_ok=True)

    def _fit_head_on_cached_features(self, model: keras.Model, epochs: int, lr: float) -> None:
        """Stage 1 of a transfer model on features the frozen backbone computed once per
        cached view; the head shares its layers (and the compiled optimizer) with ``model``."""
        train, val, _ = self._splits
        classes, batch_size = len(self.cfg["classes"]), int(self.cfg["batch_size"])
        aug_cfg = self.profile.augmentation.scaled(float(self.cfg["aug_strength"]))
        feats, val_feats = _cached_features(self._trainer, model, train, val, aug_cfg,
                                            batch_size)
        head = models.head_model(model)
        head.compile(optimizer=model.optimizer, loss=LOSS, metrics=["accuracy"],
                     run_eagerly=model.run_eagerly)
        sample_w = np.array([self._class_weights[int(k)] for k in train.labels],
                            dtype="float32")
        onehot = _onehot(train.labels, classes)

        def cached_views(epoch_seed: int) -> _CachedViews:
            return _CachedViews(feats, onehot, sample_w, batch_size, seed=epoch_seed,
                                repeats=self.profile.epoch_repeats)
        self.log(f"stage 1: head on cached features ({feats.shape[0]} views x "
                 f"{feats.shape[1]} images), up to {epochs} epochs")
        self._trainer.fit_stage(1, head, epochs, lr, cached_views,
                                (val_feats, _onehot(val.labels, classes)), None, self.resumed)

    def _fit_second_stage(self, model: keras.Model) -> None:
        st, epochs, lr = self.state, self.stage_epochs(2), self.learning_rate(2)
        if st.get("stage") != 2 or st["stage_epochs_done"] == 0:
            self._trainer.restore_best()  # stage 2 starts from stage 1's best weights
        self.log(f"stage 2: head + last {self.trainable_tail} backbone layers (BatchNorm "
                 f"frozen), up to {epochs} epochs at lr {lr:g}")
        self._trainer.fit_stage(2, model, epochs, lr, self._image_epoch, self._val_data,
                                self._class_weights, self.resumed)


def train_model(model_name: str, data_dir: str | os.PathLike[str],
                split_path: str | os.PathLike[str], profile: str | Profile = "cpu",
                out_dir: str | os.PathLike[str] = "artifacts", **options: Any) -> Path:
    """Train ``model_name`` under ``profile`` and write ``out_dir/<model>-<profile>-s<seed>/``:
    :func:`open_run` with the same ``options``, then :func:`complete_run`. Returns the run
    folder (``jewelnet train``)."""
    return complete_run(open_run(model_name, data_dir, split_path, profile, out_dir, **options))


def complete_run(run: TrainingRun) -> Path:
    """Every step of an opened run, in order, inside its distribution scope: build, compile,
    stage 1, and for a transfer model the unfreeze, recompile and stage 2; then the finish.
    A complete run is returned untouched. Returns the run folder."""
    if run.complete:
        run.log("already complete; nothing to resume")
        return run.run_dir
    with run.distribution_scope():  # a no-op unless strategy="mirrored"
        model = run.build_model()
        compile_model(model, run.learning_rate(1), run_eagerly=run.profile.run_eagerly)
        run.fit_stage(1, model)
        if run.two_stage:
            models.set_stage(model, 2, trainable_tail=run.trainable_tail)
            compile_model(model, run.learning_rate(2), run_eagerly=run.profile.run_eagerly)
            run.fit_stage(2, model)
        return run.finish(model)


def _config_stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of a file's current version (atomic writes give each version a new inode)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _mark_failed(run_dir: Path, err: BaseException) -> None:
    """Set a running run's status to "failed" when no epoch was checkpointed: there is
    nothing to resume, so the next (corrected) command may replace the folder."""
    if (run_dir / "checkpoints" / "state.json").is_file():
        return
    with contextlib.suppress(JewelNetError, OSError):  # keep the first error
        cfg = artifacts.read_config(run_dir).fields
        if cfg["status"] == "running":
            cfg.update(status="failed", failed_at=_now(), error=str(err))
            artifacts.write_config(run_dir, cfg)


@contextlib.contextmanager
def _mark_failed_start(run_dir: Path) -> Iterator[None]:
    """:func:`_mark_failed` on an error, if this call wrote the run's config.json (a run
    folder some earlier command left is not this call's to mark)."""
    before = _config_stamp(artifacts.config_file(run_dir))
    try:
        yield
    except Exception as err:
        stamp = _config_stamp(artifacts.config_file(run_dir))
        if stamp is not None and stamp != before:
            _mark_failed(run_dir, err)
        raise


def _move_previous_run(run_dir: Path) -> Path | None:
    """With --overwrite, move the old run aside (brought back if the new one fails, dropped
    once it is complete), so a full disk or a crash never loses a finished run."""
    if not artifacts.config_file(run_dir).is_file():
        return None
    backup = run_dir.with_name(f".{run_dir.name}.previous")
    try:
        if backup.exists():
            shutil.rmtree(backup)
        os.rename(run_dir, backup)
    except OSError as err:
        raise JewelNetError(f"cannot move the previous run {run_dir} aside: "
                            f"{err.strerror or err}") from err
    return backup


def _bring_back(run_dir: Path, previous: Path | None) -> None:
    if previous is not None:
        shutil.rmtree(run_dir, ignore_errors=True)
        os.rename(previous, run_dir)


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
    st, run_dir = trainer.state, trainer.run_dir
    trainer.restore_best()
    # model.keras from a fresh, uncompiled copy: the best weights without optimizer state.
    best = models.build_model(trainer.model_name, num_classes=len(cfg["classes"]),
                              input_size=cfg["input_size"], weights=None, hparams=trainer.hparams)
    best.set_weights(trainer.model.get_weights())
    best.run_eagerly = trainer.profile.run_eagerly
    _atomic_keras_save(best, run_dir / "model.keras")
    found = _predict_splits(best, run_dir, cfg["classes"], batch_size, val=val, test=test)
    metrics = artifacts.Metrics(best_epoch=st["best_epoch"], best_stage=st["best_stage"], **found)
    artifacts.write_metrics(run_dir, metrics)
    timings = _timings(trainer, cfg, len(train), t_start)
    artifacts.write_timings(run_dir, timings)
    for path in [*trainer.ckpt_dir.glob("last-e*"), trainer.ckpt_dir / "features.npz",
                 trainer.ckpt_dir / "best.npz"]:  # only --resume needs them
        path.unlink(missing_ok=True)
    cfg.update(status="complete", finished_at=_now(), best_epoch=st["best_epoch"],
               val_accuracy=metrics.val_accuracy, test_accuracy=metrics.test_accuracy)
    artifacts.write_config(run_dir, cfg)
    val_acc, test_acc = (float("nan") if v is None else v
                         for v in (metrics.val_accuracy, metrics.test_accuracy))
    trainer.log(f"done: val {val_acc:.3f}, test {test_acc:.3f}, train {timings.train_s:.0f} s")


def _predict_splits(model: keras.Model, run_dir: Path, classes: list[str], batch_size: int,
                    **splits: Any) -> dict[str, Any]:
    """Write each non-empty split's predictions; return their accuracies and sizes."""
    found: dict[str, Any] = {}
    for name, arrays in splits.items():
        if len(arrays) == 0:
            continue
        probs = np.asarray(model.predict(arrays.images.astype("float32"),
                                         batch_size=batch_size, verbose=0), dtype="float64")
        artifacts.write_predictions(run_dir, name, arrays.paths, arrays.labels, probs, classes)
        found[f"{name}_accuracy"] = float(np.mean(probs.argmax(1) == arrays.labels))
        found[f"num_{name}"] = len(arrays)
    return found


def _timings(trainer: _Trainer, cfg: dict[str, Any], num_train: int,
             t_start: float) -> artifacts.Timings:
    """timings.json from the protocol's clocks (wall and CPU seconds per part)."""
    t, prof = trainer.state["timings"], trainer.profile
    epochs = {f"stage{k}": v for k, v in sorted(trainer.state["epochs"].items())}
    stage_s = {"stage1": t["stage1_s"], "stage2": t["stage2_s"]}
    return artifacts.Timings(
        feature_cache_s=round(t["feature_cache_s"], 3),
        stage1_s=round(t["stage1_s"], 3),
        stage2_s=round(t["stage2_s"], 3),
        train_s=round(t["feature_cache_s"] + t["stage1_s"] + t["stage2_s"], 3),
        checkpoint_s=round(t["checkpoint_s"], 3),
        wall_s_this_session=round(time.perf_counter() - t_start, 3),
        epochs=epochs,
        stopped_early={f"stage{k}": v
                       for k, v in sorted(trainer.state["stopped_early"].items())},
        cpu_s={k: round(t.get(f"{k}_cpu_s", 0.0), 3)
               for k in ("feature_cache", "stage1", "stage2")},
        images_per_s={k: round(num_train * prof.epoch_repeats * epochs.get(k, 0) / s, 2)
                      for k, s in stage_s.items() if s > 0 and epochs.get(k)},
        cache_views=cfg["feature_cache_views"],
        num_train=num_train,
    )


__all__ = ["train_model", "open_run", "TrainingRun", "compile_model",
           "load_hparams", "ThesisProtocol", "PROFILE_DEFAULT"]
