"""The files one stage hands to the next: each format has one writer and one reader here.

* the run folder (``train.py`` writes it): ``config.json`` (:class:`RunConfig`),
  ``metrics.json`` (:class:`Metrics`), ``timings.json`` (:class:`Timings`), ``history.csv``
  and ``predictions_<split>.csv`` (tables);
* the split manifest (``jewelnet split``; ``split/splitting.py`` makes it, :class:`SplitManifest`);
* the tuning result ``best.json`` (``tuning.py`` writes it, :class:`TuningResult`).

Readers know the one key the writer writes and say which file is wrong in one line, so a
report is never built from a file whose meaning was guessed. The run folder's format version
stands in its ``config.json`` (``format``); its other files are written by the same code in
the same run, so one version covers them all. Folders written before the version existed
have the same keys and no ``format`` field: that one previous layout is read as version 0.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import JewelNetError
from .utils import atomic_write_json, atomic_write_text, read_json

RUN_FORMAT = 1
# Format versions a reader accepts: 0 is the unversioned layout (same keys, no "format").
RUN_FORMATS_READ = (0, RUN_FORMAT)
TUNING_FORMAT = 1
MANIFEST_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "val", "test")

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
TIMINGS_FILE = "timings.json"
HISTORY_FILE = "history.csv"
BEST_FILE = "best.json"
HISTORY_COLUMNS = ("epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy",
                   "learning_rate")
PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- paths

def config_file(run_dir: PathLike) -> Path:
    """A run folder's ``config.json`` (its presence makes a folder a run folder)."""
    return Path(run_dir) / CONFIG_FILE


def metrics_file(run_dir: PathLike) -> Path:
    """A run folder's ``metrics.json``, written once the run is finished."""
    return Path(run_dir) / METRICS_FILE


def timings_file(run_dir: PathLike) -> Path:
    return Path(run_dir) / TIMINGS_FILE


def history_file(run_dir: PathLike) -> Path:
    return Path(run_dir) / HISTORY_FILE


def predictions_file(run_dir: PathLike, split: str) -> Path:
    """The per-image predictions of ``split`` ("val" or "test")."""
    return Path(run_dir) / f"predictions_{split}.csv"


def best_file(folder: PathLike) -> Path:
    """The ``best.json`` of a tuning folder (``<out>/<model>/``)."""
    return Path(folder) / BEST_FILE


def is_finished(run_dir: PathLike) -> bool:
    """Whether a run folder holds a finished run (``metrics.json`` is written at the end)."""
    return metrics_file(run_dir).is_file()


# --------------------------------------------------------------------------- checking

def _object(path: Path) -> dict[str, Any]:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise JewelNetError(f"{path} does not hold a JSON object")
    return obj


def _require(obj: Mapping[str, Any], path: Path, types: Mapping[str, type | tuple]) -> None:
    """Each key present with its type, else one line naming the file and the key."""
    for key, kind in types.items():
        if key not in obj:
            raise JewelNetError(f"{path} lacks the field {key!r}; retrain to rewrite it")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise JewelNetError(f"{path}: field {key!r} holds {value!r}, not the expected type")


def _from_fields(cls: type, obj: Mapping[str, Any]) -> Any:
    return cls(**{f.name: obj.get(f.name) for f in dataclasses.fields(cls) if f.init
                  and f.name in obj})


# --------------------------------------------------------------------------- config.json

# The fields every config.json holds from the moment a run starts; the rest of what train.py
# records (hyperparameters, augmentation, timestamps, ...) is kept in RunConfig.fields.
_CONFIG_TYPES: dict[str, type | tuple] = {
    "model": str, "profile": dict, "seed": int, "weights": str, "classes": list,
    "input_size": int, "data_dir": str, "data_hash": str, "library_versions": dict,
    "status": str}


@dataclass(frozen=True)
class RunConfig:
    """A run's ``config.json``: what was trained on what, and how far it got."""

    model: str
    profile: dict[str, Any]
    seed: int
    weights: str
    classes: list[str]
    input_size: int
    data_dir: str
    data_hash: str
    library_versions: dict[str, Any]
    status: str  # "running", "complete" or "failed"
    fields: dict[str, Any] = field(repr=False, default_factory=dict)  # the whole file

    @property
    def profile_name(self) -> str:
        return str(self.profile["name"])

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def count(self, split: str) -> int | None:
        """Images in ``split`` ("train", "val", "test"), known once the data was loaded."""
        value = self.fields.get(f"num_{split}")
        return None if value is None else int(value)


def write_config(run_dir: PathLike, cfg: Mapping[str, Any]) -> Path:
    """Write ``config.json`` from train.py's record of the run, stamped with the format."""
    path = config_file(run_dir)
    _require(cfg, path, _CONFIG_TYPES)
    return atomic_write_json(path, {"format": RUN_FORMAT, **cfg})


def read_config(run_dir: PathLike) -> RunConfig:
    """Read ``config.json``; a missing file, field or unknown format is one line naming it."""
    path = config_file(run_dir)
    if not path.is_file():
        raise JewelNetError(f"{Path(run_dir)} is not a run folder: {path} is missing")
    obj = _object(path)
    version = obj.get("format", 0)
    if version not in RUN_FORMATS_READ:
        raise JewelNetError(f"{path} has run format {version!r}; this version reads "
                            f"{RUN_FORMAT}: retrain the run")
    _require(obj, path, _CONFIG_TYPES)
    _require(obj["profile"], path, {"name": str})
    fields = {k: v for k, v in obj.items() if k != "format"}
    return RunConfig(**{k: obj[k] for k in _CONFIG_TYPES}, fields=fields)


# --------------------------------------------------------------------------- metrics.json

@dataclass(frozen=True)
class Metrics:
    """``metrics.json``: the best epoch and the accuracy it reaches on val and test (a split
    with no images has neither accuracy nor count)."""

    best_epoch: int
    best_stage: int
    val_accuracy: float | None = None
    num_val: int | None = None
    test_accuracy: float | None = None
    num_test: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields as written: a split without images is left out."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def write_metrics(run_dir: PathLike, metrics: Metrics) -> Path:
    return atomic_write_json(metrics_file(run_dir), metrics.as_dict())


def read_metrics(run_dir: PathLike) -> Metrics:
    path = metrics_file(run_dir)
    obj = _object(path)
    _require(obj, path, {"best_epoch": int, "best_stage": int})
    return _from_fields(Metrics, obj)


# --------------------------------------------------------------------------- timings.json

@dataclass(frozen=True)
class Timings:
    """``timings.json``: wall seconds per part of training (``train_s`` is their total),
    CPU seconds per part, epochs run and early stops per stage, training images per second."""

    feature_cache_s: float
    stage1_s: float
    stage2_s: float
    train_s: float
    checkpoint_s: float
    wall_s_this_session: float
    epochs: dict[str, int]  # "stage1"/"stage2" -> epochs run
    stopped_early: dict[str, bool]
    # CPU seconds of the training process (all threads): the same work costs the same CPU
    # time when a shared host slows the wall clock.
    cpu_s: dict[str, float]
    images_per_s: dict[str, float]
    cache_views: int
    num_train: int

    def stage_seconds(self, stage: str) -> float:
        """Wall seconds of "stage1" or "stage2"."""
        return float(getattr(self, f"{stage}_s"))


_SECONDS = (int, float)  # JSON writes a whole number of seconds without a decimal point
_TIMINGS_TYPES: dict[str, type | tuple] = {
    "feature_cache_s": _SECONDS, "stage1_s": _SECONDS, "stage2_s": _SECONDS,
    "train_s": _SECONDS, "checkpoint_s": _SECONDS, "wall_s_this_session": _SECONDS,
    "epochs": dict, "stopped_early": dict, "cpu_s": dict, "images_per_s": dict,
    "cache_views": int, "num_train": int}


def write_timings(run_dir: PathLike, timings: Timings) -> Path:
    return atomic_write_json(timings_file(run_dir), dataclasses.asdict(timings))


def read_timings(run_dir: PathLike) -> Timings:
    path = timings_file(run_dir)
    obj = _object(path)
    _require(obj, path, _TIMINGS_TYPES)
    return Timings(**{key: obj[key] for key in _TIMINGS_TYPES})


# --------------------------------------------------------------------------- CSV tables

def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _read_csv(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise JewelNetError(f"run {path.parent.name} is incomplete: {path} is missing")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise JewelNetError(f"cannot read {path} as CSV: {err}") from err
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise JewelNetError(f"{path} lacks {what} column(s) {', '.join(missing)}")
    return table


def write_history(run_dir: PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """``history.csv``: one row per epoch trained (all stages), floats to 6 digits."""
    return atomic_write_text(history_file(run_dir), _csv_text(
        HISTORY_COLUMNS, [[_fmt(r.get(c)) for c in HISTORY_COLUMNS] for r in rows]))


def read_history(run_dir: PathLike) -> pd.DataFrame:
    return _read_csv(history_file(run_dir), HISTORY_COLUMNS, "history")


def write_predictions(run_dir: PathLike, split: str, paths: Sequence[str],
                      labels: Sequence[int], probs: np.ndarray, classes: Sequence[str]) -> Path:
    """``predictions_<split>.csv``: image path, true and predicted class names, then one
    probability column per class (6 decimals)."""
    predicted = np.asarray(probs).argmax(axis=1)
    header = ["path", "label", "pred", *[f"prob_{c}" for c in classes]]
    rows = [[path, classes[int(label)], classes[int(pred)], *[f"{v:.6f}" for v in row]]
            for path, label, pred, row in zip(paths, labels, predicted, probs, strict=True)]
    return atomic_write_text(predictions_file(run_dir, split), _csv_text(header, rows))


def read_predictions(run_dir: PathLike, split: str, classes: Sequence[str]) -> pd.DataFrame:
    """The predictions of ``split`` with ``label`` and ``pred`` as indices into ``classes``."""
    path = predictions_file(run_dir, split)
    columns = ["path", "label", "pred", *[f"prob_{c}" for c in classes]]
    table = _read_csv(path, columns, "prediction")
    index = {name: i for i, name in enumerate(classes)}
    for col in ("label", "pred"):
        unknown = sorted(set(map(str, table[col])) - set(index))
        if unknown:
            raise JewelNetError(f"{path}: unknown class {unknown[0]!r} in column {col}")
        table[col] = table[col].astype(str).map(index).astype(int)
    return table


# --------------------------------------------------------------------------- split manifest

def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three positive fractions summing to 1, or a clear error naming the value."""
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError) as err:
        raise JewelNetError(f"split ratios must be three numbers, got {ratios!r}") from err
    if (
        len(values) != 3
        or not all(math.isfinite(v) and v > 0 for v in values)
        or abs(sum(values) - 1.0) > 1e-6
    ):
        raise JewelNetError(
            f"split ratios must be three positive numbers summing to 1, got {list(ratios)!r}"
        )
    return values  # type: ignore[return-value]


def _invalid(source: str, what: str) -> JewelNetError:
    return JewelNetError(f"{source} is not a valid split manifest: {what}")


def _check_manifest_head(obj: Any, source: str) -> None:
    """The manifest's keys, version, data folder, seed and classes."""
    if not isinstance(obj, dict):
        raise _invalid(source, "expected a JSON object")
    for key in ("version", "data_dir", "seed", "classes", "files"):
        if key not in obj:
            raise _invalid(source, f"missing key {key!r}")
    if obj["version"] != MANIFEST_VERSION:
        raise _invalid(source, f"version {obj['version']!r} (this code reads version "
                               f"{MANIFEST_VERSION})")
    if not isinstance(obj["data_dir"], str):
        raise _invalid(source, "'data_dir' must be a string")
    if isinstance(obj["seed"], bool) or not isinstance(obj["seed"], int):
        raise _invalid(source, "'seed' must be an integer")
    classes = obj["classes"]
    if (not isinstance(classes, list) or not classes or len(set(classes)) != len(classes)
            or not all(isinstance(c, str) for c in classes)):
        raise _invalid(source, "'classes' must be a non-empty list of distinct names")
    if "ratios" in obj:
        try:
            check_ratios(obj["ratios"])
        except JewelNetError as err:
            raise _invalid(source, str(err)) from err


def _check_manifest_files(obj: dict[str, Any], source: str) -> None:
    """Each listed file once, with a known class and subset; skipped files with a path."""
    if not isinstance(obj["files"], list):
        raise _invalid(source, "'files' must be a list")
    seen: set[str] = set()
    for k, entry in enumerate(obj["files"]):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in ("path", "class", "split", "sha256")
        ):
            raise _invalid(source, f"files[{k}] needs string 'path', 'class', 'split', 'sha256'")
        if entry["class"] not in obj["classes"]:
            raise _invalid(source, f"files[{k}] has unknown class {entry['class']!r}")
        if entry["split"] not in SPLITS:
            raise _invalid(source, f"files[{k}] has split {entry['split']!r} (train/val/test)")
        if entry["path"] in seen:
            raise _invalid(source, f"file {entry['path']!r} is listed twice")
        seen.add(entry["path"])
    skipped = obj.get("skipped", [])
    if not isinstance(skipped, list) or not all(
        isinstance(s, dict) and isinstance(s.get("path"), str) for s in skipped
    ):
        raise _invalid(source, "'skipped' must be a list of {path, reason} objects")


@dataclass(frozen=True)
class SplitManifest:
    """A split manifest: which file of ``data_dir`` is in which subset. Paths are relative
    to ``data_dir`` with ``/`` separators; each file carries its class and SHA-256."""

    data_dir: str
    seed: int
    classes: list[str]
    files: list[dict[str, str]]  # {"path", "class", "split", "sha256"}
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    ratios: list[float] | None = None
    hash_threshold: int | None = None

    @classmethod
    def from_dict(cls, obj: Any, source: str = "split manifest") -> SplitManifest:
        """Check a manifest's JSON object; one line naming ``source`` when it is wrong."""
        _check_manifest_head(obj, source)
        _check_manifest_files(obj, source)
        return cls(data_dir=obj["data_dir"], seed=obj["seed"], classes=obj["classes"],
                   files=obj["files"], skipped=obj.get("skipped", []),
                   ratios=obj.get("ratios"), hash_threshold=obj.get("hash_threshold"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as written (settings first, then the files)."""
        head = {"version": MANIFEST_VERSION, "data_dir": self.data_dir, "seed": self.seed}
        optional = {"ratios": self.ratios, "hash_threshold": self.hash_threshold}
        return {**head, **{k: v for k, v in optional.items() if v is not None},
                "classes": self.classes, "files": self.files, "skipped": self.skipped}


def write_split_manifest(path: PathLike, manifest: SplitManifest) -> Path:
    return atomic_write_json(path, manifest.to_dict())


def read_split_manifest(path: PathLike) -> SplitManifest:
    return SplitManifest.from_dict(read_json(path), source=str(path))


# --------------------------------------------------------------------------- best.json

@dataclass(frozen=True)
class TuningResult:
    """``best.json``: the best trial of one search; ``jewelnet train --hparams`` reads it."""

    model: str
    hparams: dict[str, Any]
    # The rest of the search's record (profile, algorithm, objective, trial counts, budget,
    # data hash, ...), as written.
    fields: dict[str, Any] = field(repr=False, default_factory=dict)


def write_tuning_result(folder: PathLike, result: Mapping[str, Any]) -> Path:
    """Write ``<folder>/best.json`` from the search's record (which holds model and hparams)."""
    path = Path(folder) / BEST_FILE
    _require(result, path, {"model": str, "hparams": dict})
    return atomic_write_json(path, {"format": TUNING_FORMAT, **result})


def read_tuning_result(path: PathLike) -> TuningResult:
    """Read a ``best.json`` (or the tuning folder holding one)."""
    path = best_file(path) if Path(path).is_dir() else Path(path)
    obj = read_json(path)
    if not isinstance(obj, dict) or "model" not in obj or not isinstance(obj.get("hparams"),
                                                                        dict):
        raise JewelNetError(f"{path} is not a best.json file: expected "
                            '{"model": ..., "hparams": {...}}')
    version = obj.get("format", 0)
    if version not in (0, TUNING_FORMAT):
        raise JewelNetError(f"{path} has tuning format {version!r}; this version reads "
                            f"{TUNING_FORMAT}: run the search again")
    fields = {k: v for k, v in obj.items() if k != "format"}
    return TuningResult(model=str(obj["model"]), hparams=dict(obj["hparams"]), fields=fields)


__all__ = [
    "BEST_FILE", "CONFIG_FILE", "HISTORY_COLUMNS", "MANIFEST_VERSION", "Metrics", "RUN_FORMAT",
    "RunConfig", "SPLITS", "SplitManifest", "Timings", "TuningResult", "best_file",
    "check_ratios", "config_file", "history_file", "is_finished", "metrics_file",
    "predictions_file", "read_config", "read_history", "read_metrics", "read_predictions",
    "read_split_manifest", "read_timings", "read_tuning_result", "timings_file",
    "write_config", "write_history", "write_metrics", "write_predictions",
    "write_split_manifest", "write_timings", "write_tuning_result",
]
