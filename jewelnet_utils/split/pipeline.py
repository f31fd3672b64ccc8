"""From a split manifest to training batches: decoded arrays of one subset (cached), and
``tf.data`` pipelines (a ``keras.utils.PyDataset`` on other backends). TensorFlow and Keras
are imported only inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts import artifacts
from ..contracts.config import DEFAULT_SEED, JewelNetError
from ..contracts.decode import open_rgb, resize_square
from ..images.audit import progress_bar
from .splitting import class_seed, data_hash, load_manifest, validate_manifest

SPLITS = artifacts.SPLITS

# --------------------------------------------------------------------------------------------
# Arrays and pipelines
# --------------------------------------------------------------------------------------------


@dataclass
class SplitArrays:
    """Decoded images of one subset. ``images`` is read-only (it may be shared via the cache)."""

    images: np.ndarray  # uint8 [N, size, size, 3]
    labels: np.ndarray  # int32 [N], indices into ``classes``
    paths: list[str]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


_CACHE: OrderedDict[tuple[Any, ...], SplitArrays] = OrderedDict()


def _cache_limit() -> int:
    """Bytes of decoded images kept in memory ($JEWELNET_CACHE_MB, default 3 GiB)."""
    try:
        return int(float(os.environ.get("JEWELNET_CACHE_MB", "3072")) * 2**20)
    except ValueError:
        return 3072 * 2**20


def clear_cache() -> None:
    """Forget every decoded subset held in memory."""
    _CACHE.clear()


def _subset(entries: list[dict[str, Any]], classes: list[str], max_per_class: int | None,
            seed: int) -> list[dict[str, Any]]:
    """At most ``max_per_class`` entries per class, chosen reproducibly, order kept."""
    if max_per_class is None:
        return entries
    keep: set[int] = set()
    for cls in classes:
        idx = [k for k, e in enumerate(entries) if e["class"] == cls]
        if len(idx) > max_per_class:
            pick = class_seed(seed, cls).choice(len(idx), size=max_per_class, replace=False)
            idx = [idx[p] for p in pick]
        keep.update(idx)
    return [e for k, e in enumerate(entries) if k in keep]


def load_split_arrays(manifest: dict[str, Any] | str | os.PathLike[str], split: str, size: int,
                      data_dir: str | os.PathLike[str] | None = None,
                      max_per_class: int | None = None, seed: int = DEFAULT_SEED) -> SplitArrays:
    """Decode one subset to uint8 arrays of ``size`` x ``size``, cached in memory.

    Each file's SHA-256 is checked against the manifest, so a photo changed after the split
    is reported instead of silently trained on. The cache means several models in one
    notebook decode each subset once.
    """
    if not isinstance(manifest, dict):
        manifest = load_manifest(manifest)
    else:
        validate_manifest(manifest)
    if split not in SPLITS:
        raise JewelNetError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise JewelNetError(f"image size must be a positive whole number, got {size!r}")
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer))
                                      or max_per_class < 1):
        raise JewelNetError(f"max_per_class must be a positive whole number, got {max_per_class!r}")
    root = Path(data_dir if data_dir is not None else manifest["data_dir"])
    key = (data_hash(manifest), split, int(size), max_per_class,
           int(seed) if max_per_class is not None else None)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _copy_arrays(_CACHE[key])
    if not root.is_dir():
        raise JewelNetError(
            f"data folder {root} (named by the split manifest) not found; pass data_dir"
        )
    classes = list(manifest["classes"])
    entries = [f for f in manifest["files"] if f["split"] == split]
    entries = _subset(entries, classes, max_per_class, int(seed))
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    for k, entry in enumerate(progress_bar(entries, f"decode {split}")):
        path = root / entry["path"]
        try:
            data = path.read_bytes()
        except OSError as err:
            raise JewelNetError(
                f"cannot read {path} listed in the split manifest ({err.strerror or err})"
            ) from err
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise JewelNetError(
                f"{path} changed since the split manifest was written; run `jewelnet split` again"
            )
        img, _kinds = open_rgb(path, data)
        images[k] = np.asarray(resize_square(img, int(size)), dtype=np.uint8)
    images.setflags(write=False)
    labels = np.array([classes.index(e["class"]) for e in entries], dtype=np.int32)
    labels.setflags(write=False)
    arrays = SplitArrays(images=images, labels=labels, paths=[e["path"] for e in entries],
                         classes=classes)
    _CACHE[key] = arrays
    while len(_CACHE) > 1 and sum(a.images.nbytes for a in _CACHE.values()) > _cache_limit():
        _CACHE.popitem(last=False)
    return _copy_arrays(arrays)


def _copy_arrays(arrays: SplitArrays) -> SplitArrays:
    """Same (read-only) arrays, fresh lists, so callers cannot edit the cached entry."""
    return SplitArrays(arrays.images, arrays.labels, list(arrays.paths), list(arrays.classes))


def _apply_augment(augment: Callable[..., Any], batch: Any) -> Any:
    """Call a Keras layer in training mode, any other callable plainly."""
    import keras

    if isinstance(augment, keras.layers.Layer):
        return augment(batch, training=True)
    return augment(batch)


def make_dataset(images: SplitArrays | np.ndarray, labels: np.ndarray | None = None,
                 num_classes: int | None = None, batch_size: int = 32, training: bool = False,
                 augment: Callable[..., Any] | None = None, seed: int = DEFAULT_SEED,
                 pipeline: str = "auto") -> Any:
    """Batches of (float32 images in [0, 255], one-hot float32 labels) for ``model.fit``.

    A ``tf.data.Dataset`` when Keras runs on TensorFlow, else a ``keras.utils.PyDataset``
    (``pipeline`` = "tf" or "py" forces one). Training data is shuffled with ``seed`` each
    epoch and ``augment`` is applied to whole batches; evaluation data is neither.
    """
    if isinstance(images, SplitArrays):
        if labels is None:
            labels = images.labels
        if num_classes is None:
            num_classes = images.num_classes
        images = images.images
    if labels is None or num_classes is None:
        raise JewelNetError("make_dataset needs labels and num_classes with a plain image array")
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise JewelNetError(f"images must be shaped [N, H, W, 3], got {list(images.shape)}")
    if len(images) != len(labels):
        raise JewelNetError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise JewelNetError(f"labels must lie in [0, {num_classes - 1}]")
    if batch_size < 1:
        raise JewelNetError(f"batch size must be positive, got {batch_size}")
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    if pipeline == "auto":
        import keras

        pipeline = "tf" if keras.backend.backend() == "tensorflow" else "py"
    if pipeline == "tf":
        return _tf_dataset(images, onehot, batch_size, training, augment, seed)
    if pipeline == "py":
        return _py_dataset_class()(images, onehot, batch_size, training, augment, seed)
    raise JewelNetError(f"unknown pipeline {pipeline!r}; choose auto, tf or py")


def _tf_dataset(images: np.ndarray, onehot: np.ndarray, batch_size: int, training: bool,
                augment: Callable[..., Any] | None, seed: int) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, onehot))  # uint8 until batched: 4x less
    if training:
        ds = ds.shuffle(max(1, len(images)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    use_augment = augment if training else None

    def prepare(x: Any, y: Any) -> tuple[Any, Any]:
        x = tf.cast(x, tf.float32)
        if use_augment is not None:
            x = tf.cast(_apply_augment(use_augment, x), tf.float32)
        return x, y

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


_PY_DATASET: type | None = None


def _py_dataset_class() -> type:
    """Define the PyDataset subclass on first use, so importing this module needs no Keras."""
    global _PY_DATASET
    if _PY_DATASET is not None:
        return _PY_DATASET
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        """The ``tf.data`` pipeline's batches, for backends without TensorFlow."""

        def __init__(self, images: np.ndarray, onehot: np.ndarray, batch_size: int,
                     training: bool, augment: Callable[..., Any] | None, seed: int) -> None:
            super().__init__()
            self.images, self.onehot = images, onehot
            self.batch_size, self.training = batch_size, training
            self.augment = augment if training else None
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(len(images)) if training else np.arange(
                len(images))

        def __len__(self) -> int:
            return math.ceil(len(self.images) / self.batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            if index < 0 or index >= len(self):
                raise IndexError(index)
            idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
            x = self.images[idx].astype(np.float32)
            if self.augment is not None:
                x = np.asarray(keras.ops.convert_to_numpy(_apply_augment(self.augment, x)),
                               dtype=np.float32)
            return x, self.onehot[idx]

        def on_epoch_end(self) -> None:
            if self.training:
                self._order = self._rng.permutation(len(self.images))

    _PY_DATASET = ArrayBatches
    return ArrayBatches


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> dict[int, float]:
    """'Balanced' class weights (n / (k * count)); classes absent from ``labels`` get 1.0."""
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(labels).astype(int)
    present = np.unique(y)
    weights = dict.fromkeys(range(num_classes), 1.0)
    if len(present):
        values = compute_class_weight("balanced", classes=present, y=y)
        weights.update({int(c): float(w) for c, w in zip(present, values, strict=True)})
    return weights

