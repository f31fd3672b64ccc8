"""``jewelnet bench``: the speed and memory claims of the book, measured on this machine.

Every figure is a ratio or a quantity measured side by side in one run (the new way and the
baseline alternate, best of several repeats), so background load on a shared machine cancels
out of the ratios as far as it can. Each figure prints one line ``name: value unit (goal ...)``
followed by the numbers behind it; ``--json`` also writes them, with the machine description,
for the book's efficiency section (it reads ``reports/bench.json``).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..contracts import artifacts
from ..contracts.config import (
    CLASSES,
    MODEL_TITLES,
    MODELS,
    JewelNetError,
    check_model,
    get_profile,
)
from ..contracts.records import provenance
from ..contracts.utils import atomic_write_json, cpu_model, library_versions, median_ms
from ..images import synth
from ..report.recommend import EmbeddingIndex
from ..split import pipeline, splitting

# augment, models and train import Keras (and so TensorFlow, seconds of start-up): they are
# imported inside the figures that train or run a model, so `preflight` (which reads bench
# records) and the figures without a model stay light.

BENCH_VERSION = 1
NUM_CLASSES = 8


# --------------------------------------------------------------------------------------------
# Sizes: what each figure runs on. ``--quick`` and the full run differ only in these numbers.
# --------------------------------------------------------------------------------------------
@dataclass
class Sizes:
    """Workload of every figure; ``--size KEY=VALUE`` overrides one (tests use tiny ones)."""

    pipeline_images: int = 256  # images per pass through each input pipeline
    pipeline_size: int = 224  # the thesis' input size
    pipeline_repeats: int = 3
    compute_profile: str = "cpu"  # input size and batch size of the custom CNN come from here
    compute_steps: int = 8  # training steps per timed fit
    compute_repeats: int = 3
    cache_model: str = "vgg16"
    # Input size, stage-1 epochs, passes and cached views come from this profile: the cpu
    # profile's, where the cache saves a laptop's time (the image count is scaled down).
    cache_profile: str = "cpu"
    # Images per class in the data set (70 % of them train): 150 gives 840 training images,
    # the size of a small real data set and of the thesis's, where the fixed costs of a fit
    # (graph tracing, per-epoch overhead) no longer hide what the cache saves.
    cache_per_class: int = 150
    cache_epochs: int = 0  # 0: the profile's stage1_epochs (fewer: --quick and tests)
    inference_size: int = 260  # EfficientNetB2's paper input size
    inference_runs: int = 30
    inference_batch: int = 32
    # 1: also time an XLA (jit_compile=True) call. Off by default: on a CPU, XLA spends a long
    # compile on EfficientNetB2 and then runs it slower than plain tf.function.
    inference_jit: int = 0
    retrieval_n: tuple[int, ...] = (100_000, 1_000_000)
    retrieval_dim: int = 256
    retrieval_queries: int = 30
    synth_images: int = 160  # per run: one worker, then one worker per CPU
    synth_repeats: int = 3  # runs of each, alternating; the best counts (a 2 s run can fall
    # wholly into one of this host's slow spells)
    synth_size: int = 256
    memory_profile: str = "cpu"
    memory_models: tuple[str, ...] = MODELS
    memory_per_class: int = 12  # images per class in the data set of each memory child
    memory_parallel: int = 2  # children at once (peak RSS is per process, so they may overlap)
    memory_timeout: int = 300  # seconds per child

    def override(self, items: Iterable[str]) -> Sizes:
        """A copy with ``KEY=VALUE`` items applied; a bad key or value is a clear error."""
        out = dataclasses.replace(self)
        known = {f.name: f for f in dataclasses.fields(self)}
        for item in items:
            key, sep, text = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in known:
                raise JewelNetError(
                    f"bad --size {item!r}; use KEY=VALUE with KEY one of: {', '.join(known)}"
                )
            current = getattr(self, key)
            try:
                if isinstance(current, tuple):
                    parts = [p for p in text.split(",") if p.strip()]
                    value: Any = tuple(
                        int(float(p)) if isinstance(current[0], int) else p.strip() for p in parts
                    )
                elif isinstance(current, int):
                    value = int(float(text))
                else:
                    value = text.strip()
            except (ValueError, IndexError) as err:
                raise JewelNetError(f"bad --size {item!r}: {err}") from err
            _check_size(item, key, value)
            setattr(out, key, value)
        return out


def _check_size(item: str, key: str, value: Any) -> None:
    """Catch a nonsensical workload here, not minutes later inside a child process."""
    values = value if isinstance(value, tuple) else (value,)
    if not values:
        raise JewelNetError(f"bad --size {item!r}: give at least one value")
    for v in values:
        if isinstance(v, int) and v < (0 if key in ("cache_epochs", "inference_jit") else 1):
            raise JewelNetError(f"bad --size {item!r}: {v} is too small")
        if key in ("cache_model", "memory_models"):
            check_model(v)
        if key.endswith("_profile"):
            get_profile(v)


# A couple of minutes on a laptop: every figure keeps its side-by-side comparison, on fewer
# images, repeats and models.
QUICK_SIZES = Sizes(
    pipeline_images=128,
    pipeline_repeats=2,
    # The cpu profile's real Custom CNN step (112 px, batch 32): at smoke sizes (64 px, batch
    # 16) a step is so cheap that tf.data's fixed per-batch cost dominates, which says nothing
    # about real training.
    compute_profile="cpu",
    compute_steps=8,  # fewer steps per timed fit let start-up noise decide the ratio
    compute_repeats=3,
    # 4 of the cpu profile's 10 stage-1 epochs: both legs pay TensorFlow's start-up, so on a
    # few dozen training images the ratio stays far from its goal whatever the epochs; the
    # full run measures it at 840 images.
    cache_per_class=12,
    cache_epochs=4,
    inference_runs=10,
    inference_batch=8,
    retrieval_n=(100_000,),
    retrieval_queries=20,
    synth_images=32,
    memory_profile="smoke",
    # One child, the cheapest model (ResNet50, the highest peak, costs 10 s more); the full
    # run measures all four.
    memory_models=("custom_cnn",),
    memory_per_class=3,
    memory_parallel=1,
)
FULL_SIZES = Sizes()


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Goal:
    """A target such as ``>= 3x``: comparison, threshold and a note on where it applies."""

    op: str  # ">=", ">", "<=", "<"
    threshold: float
    unit: str
    note: str = ""

    def text(self) -> str:
        unit = self.unit if self.unit == "x" else f" {self.unit}"
        note = f" {self.note}" if self.note else ""
        return f"{self.op} {self.threshold:g}{unit}{note}"

    def met(self, value: float) -> bool:
        return {
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "<=": value <= self.threshold,
            "<": value < self.threshold,
        }[self.op]


@dataclass
class Result:
    """One figure: its headline value, the goal it is judged by and the numbers behind it."""

    name: str
    value: float
    unit: str
    goal: Goal
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.name}: {_with_unit(self.value, self.unit)} (goal {self.goal.text()}); "
                f"{self.detail}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "goal": self.goal.text(),
            "goal_met": self.goal.met(self.value),
            "line": self.line(),
            "detail": self.detail,
            "data": self.data,
            "seconds": round(self.seconds, 2),
        }


def _with_unit(value: float, unit: str) -> str:
    """``3.45x`` or ``12.3 ms``: a ratio's x sticks to the number, other units do not."""
    return f"{_num(value)}{unit if unit == 'x' else ' ' + unit}"


def _num(value: float) -> str:
    """Three significant figures, no exponent: 0.0123, 1.23, 12.3, 1234."""
    if value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# Lines look like ``retrieval: 1.23 ms (goal < 5 ms at 1M); ...``; tests and the book parse them.
LINE_PATTERN = (
    r"^(?P<name>[a-z_]+): (?P<value>-?[0-9.]+|nan) ?(?P<unit>[^\s(;]+) "
    r"\(goal (?P<goal>[^)]*)\); (?P<detail>.*)$"
)


# --------------------------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _best_of_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int
) -> dict[str, list[float]]:
    """Run each function ``repeats`` times, alternating between them, and keep every time.

    Alternating puts both sides of a ratio under the same background load; the minimum of each
    side is then the least-disturbed estimate on a shared machine.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return times


def _random_images(n: int, size: int, seed: int = 0) -> Any:
    """Uint8 RGB noise: augmentation and convolutions cost the same whatever the pixels are."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _random_labels(n: int, seed: int = 0) -> Any:
    import numpy as np

    return np.random.default_rng(seed).integers(0, NUM_CLASSES, size=n).astype("int64")


def _fit_steps(model: Any, dataset: Any, steps: int) -> None:
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)


def _compile(model: Any, learning_rate: float = 1e-4) -> Any:
    """``train.compile_model`` (Adam, cross-entropy on one-hot labels), returning the model."""
    from ..run.train import compile_model

    compile_model(model, learning_rate)
    return model


# --------------------------------------------------------------------------------------------
# 1. tf.data + Keras 3 layers vs the thesis' Keras 2 ImageDataGenerator
# --------------------------------------------------------------------------------------------
def _keras2_generator(aug: Any) -> Any:
    """The thesis' ``ImageDataGenerator`` with the same Table 4.2 ranges as ``aug``."""
    from tf_keras.preprocessing.image import ImageDataGenerator

    return ImageDataGenerator(
        rotation_range=aug.rotation_deg,
        width_shift_range=aug.width_shift,
        height_shift_range=aug.height_shift,
        shear_range=aug.shear,
        zoom_range=aug.zoom,
        horizontal_flip=aug.horizontal_flip,
        brightness_range=tuple(aug.brightness),
        channel_shift_range=aug.channel_shift * 255.0,
        fill_mode=aug.fill_mode,
    )


def bench_pipeline(sizes: Sizes) -> Result:
    """Images/s of both augmenting input pipelines over the same in-memory images at 224 px."""
    import numpy as np

    from ..split import augment  # imports Keras: see the note at the top of the module

    n, size, batch = sizes.pipeline_images, sizes.pipeline_size, 32
    aug = get_profile("paper").augmentation
    images, labels = _random_images(n, size), _random_labels(n)

    dataset = pipeline.make_dataset(
        images, labels, NUM_CLASSES, batch, training=True,
        augment=augment.build_augmenter(aug, seed=0), seed=0,
    )
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels]
    flow = _keras2_generator(aug).flow(images.astype("float32"), one_hot, batch_size=batch, seed=0)
    batches = len(flow)

    def ours() -> None:
        seen = 0
        for x, _y in dataset:
            seen += int(x.shape[0])
            if seen >= n:
                break

    def keras2() -> None:
        for _ in range(batches):
            next(flow)

    ours()  # trace the augmenter's graph once
    next(flow)
    times = _best_of_interleaved({"tf_data": ours, "keras2": keras2}, sizes.pipeline_repeats)
    rate_new, rate_old = n / min(times["tf_data"]), n / min(times["keras2"])
    return Result(
        "pipeline", rate_new / rate_old, "x", Goal(">=", 3, "x"),
        f"tf.data + Keras 3 layers {_num(rate_new)} images/s (one fused affine warp per "
        f"image, batch-wise, parallel map over {_plural(_cpus(), 'core')}) vs Keras 2 "
        f"ImageDataGenerator.flow {_num(rate_old)} images/s (one thread); {n} images, "
        f"{size} px, batch {batch}, Table 4.2 ranges",
        {"tf_data_images_per_s": rate_new, "keras2_images_per_s": rate_old, "images": n,
         "size": size, "batch_size": batch, "times_s": times},
    )


# --------------------------------------------------------------------------------------------
# 2. Training fed by the augmenting pipeline vs fed from tensors already in memory
# --------------------------------------------------------------------------------------------
def bench_pipeline_vs_compute(sizes: Sizes) -> Result:
    """Custom CNN training steps/s: the real pipeline vs pre-augmented cached batches."""
    from ..run import models
    from ..split import augment  # import Keras: see the note at the top of the module

    profile = get_profile(sizes.compute_profile)
    size, batch, steps = profile.input_size("custom_cnn"), profile.batch_size, sizes.compute_steps
    n = batch * steps
    images, labels = _random_images(n, size), _random_labels(n)
    batches = pipeline.make_dataset(
        images, labels, NUM_CLASSES, batch, training=True,
        augment=augment.build_augmenter(profile.augmentation, seed=0), seed=0,
    ).repeat()
    cached = batches.take(steps).cache()
    for _ in cached:  # fill the cache: from now on these batches are tensors in memory
        pass
    cached = cached.repeat()

    model = _compile(models.build_model("custom_cnn", NUM_CLASSES, input_size=size, weights=None))
    _fit_steps(model, batches, 2)  # build the train step once for both feeds
    _fit_steps(model, cached, 2)
    times = _best_of_interleaved(
        {"pipeline": lambda: _fit_steps(model, batches, steps),
         "memory": lambda: _fit_steps(model, cached, steps)},
        sizes.compute_repeats,
    )
    fed, memory = steps / min(times["pipeline"]), steps / min(times["memory"])
    return Result(
        "pipeline_vs_compute", fed / memory, "x", Goal(">=", 0.9, "x"),
        f"Custom CNN {_num(fed)} steps/s fed by the augmenting pipeline vs {_num(memory)} "
        f"steps/s from cached tensors ({size} px, batch {batch}, {sizes.compute_profile} profile)",
        {"pipeline_steps_per_s": fed, "memory_steps_per_s": memory, "size": size,
         "batch_size": batch, "steps": steps, "profile": sizes.compute_profile, "times_s": times},
    )


# --------------------------------------------------------------------------------------------
# 3. Stage 1 on cached backbone features vs through the frozen backbone
# --------------------------------------------------------------------------------------------
def bench_feature_cache(sizes: Sizes, workdir: Path) -> Result:
    """Stage 1 through ``train.train_model`` twice, with and without its feature cache.

    Both runs train the head for the same epochs (early stopping off, no stage 2) on the same
    data, at a real profile's settings: its input size, its ``stage1_epochs`` and its
    ``feature_cache_views`` (only the number of images is scaled down). Each runs in a fresh
    process so neither inherits the other's warm caches or TensorFlow's global determinism
    switch. The times come from each run's timings.json: feature caching plus stage-1 epochs,
    against stage-1 epochs through the frozen backbone, in CPU seconds (wall seconds beside).

    Caching K views costs about K forward passes over the training images, and every epoch
    through the frozen backbone ``epoch_repeats`` (R), so the ratio approaches
    (epochs x (R x train + val)) / (K x train + val) once the data set is large enough for
    compute to dwarf the fixed costs (graph tracing, per-epoch overhead) of tiny runs.
    """
    profile = get_profile(sizes.cache_profile)
    epochs = sizes.cache_epochs or profile.stage1_epochs
    timings = _feature_cache_legs(sizes, workdir, epochs)
    return _feature_cache_result(sizes, profile, epochs, timings)


def _feature_cache_legs(sizes: Sizes, workdir: Path, epochs: int) -> dict[str, dict[str, Any]]:
    """The two stage-1 runs (cached features, then the frozen backbone), each in its own
    process, with their timings and training/validation counts."""
    overrides = {"stage1_epochs": epochs, "stage2_epochs": 0, "stage2_epochs_per_model": {},
                 "early_stop_patience": 10**6,
                 "reduce_lr_patience": 10**6, "max_train_per_class": None}
    data_dir, split = _noise_dataset(workdir, sizes.cache_per_class, 128)
    timings: dict[str, dict[str, Any]] = {}
    for cached in (True, False):
        tag = "cached" if cached else "frozen"
        spec = {"model": sizes.cache_model, "profile": sizes.cache_profile,
                "overrides": overrides, "data": str(data_dir), "split": str(split),
                "out": str(workdir / f"cache-{tag}"), "feature_cache": cached}
        child = _run_child(spec, sizes.memory_timeout * 2, workdir / f"cache-{tag}.log")
        run_dir = Path(child["run_dir"])
        config = artifacts.read_config(run_dir)
        timings[tag] = {**dataclasses.asdict(artifacts.read_timings(run_dir)),
                        "num_train": config.count("train"), "num_val": config.count("val"),
                        "peak_rss_gib": child["peak_rss_gib"]}
    return timings


def _feature_cache_result(sizes: Sizes, profile: Any, epochs: int,
                          timings: dict[str, dict[str, Any]]) -> Result:
    """The feature-cache figure from the two legs' timings, with what counting forward
    passes alone predicts beside it."""
    cached_s = timings["cached"]["feature_cache_s"] + timings["cached"]["stage1_s"]
    frozen_s = timings["frozen"]["stage1_s"]
    # The headline compares CPU seconds (all threads of each child): on a shared host the
    # same work takes the same CPU seconds whatever the wall clock does, and a short leg can
    # fall wholly into a slow spell that a long leg averages out. Wall seconds stand beside.
    cached_cpu = timings["cached"]["cpu_s"]["feature_cache"] + timings["cached"]["cpu_s"]["stage1"]
    frozen_cpu = timings["frozen"]["cpu_s"]["stage1"]
    views = max(1, profile.feature_cache_views)  # what train.py caches (see _cached_features)
    n_train = timings["cached"]["num_train"]
    n_val = timings["cached"]["num_val"] or 0
    passes = max(1, profile.epoch_repeats)  # augmented passes over the images per epoch
    expected = epochs * (passes * n_train + n_val) / (views * n_train + n_val)
    source = (f"the {sizes.cache_profile} profile's stage-1 epochs and cached views"
              if epochs == profile.stage1_epochs
              else f"{_plural(epochs, 'epoch')} (the {sizes.cache_profile} profile has "
                   f"{profile.stage1_epochs}) and its cached views")
    per_epoch = f" of {passes} passes" if passes > 1 else ""
    formula = "epochs x (passes x train + val)" if passes > 1 else "epochs x (train + val)"
    return Result(
        "feature_cache", frozen_cpu / cached_cpu, "x", Goal(">=", 10, "x"),
        f"{_title(sizes.cache_model)} stage 1 at {source}: {_plural(epochs, 'epoch')}"
        f"{per_epoch}, "
        f"{_plural(views, 'view')}, {profile.input_size(sizes.cache_model)} px, {n_train} "
        f"training + {n_val} validation images; CPU seconds {_num(cached_cpu)} with the "
        f"feature cache vs {_num(frozen_cpu)} through the frozen backbone; wall clock "
        f"{_num(cached_s)} s ({_num(timings['cached']['feature_cache_s'])} s caching + "
        f"{_num(timings['cached']['stage1_s'])} s head) vs {_num(frozen_s)} s, "
        f"{_num(frozen_s / cached_s)}x; counting forward passes alone predicts "
        f"{_num(expected)}x ({formula} / (views x train + val))",
        {"model": sizes.cache_model, "profile": sizes.cache_profile, "epochs": epochs,
         "profile_stage1_epochs": profile.stage1_epochs, "passes_per_epoch": passes,
         "views": views, "num_train": n_train,
         "num_val": n_val, "expected_forward_ratio": expected, "cached_s": cached_s,
         "frozen_s": frozen_s, "wall_ratio": frozen_s / cached_s, "cached_cpu_s": cached_cpu,
         "frozen_cpu_s": frozen_cpu, "timings": timings},
    )


# --------------------------------------------------------------------------------------------
# 4. Inference latency and throughput of EfficientNetB2
# --------------------------------------------------------------------------------------------
def _frozen_call(model: Any, size: int) -> Callable[[Any], Any] | None:
    """``model`` as one graph with its weights folded in as constants, the way a model is
    exported for serving: Grappler can then fold each BatchNorm into its convolution and
    precompute constant branches. Same weights, same outputs (to float rounding); None when
    this TensorFlow cannot freeze the graph."""
    import tensorflow as tf

    try:
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
            tf.TensorSpec((None, size, size, 3), tf.float32))
        frozen = convert_variables_to_constants_v2(concrete)
    except Exception:  # noqa: BLE001 - a private API: fall back to the plain tf.function
        return None
    return lambda x: frozen(x)[0]


def _compiled_calls(model: Any, size: int, jit: int) -> dict[str, Callable[[Any], Any]]:
    """The compiled ways to call ``model`` on one image: a ``tf.function`` with a fixed input
    signature, the same function frozen, and with ``jit`` also XLA."""
    import tensorflow as tf

    signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]
    calls: dict[str, Callable[[Any], Any]] = {
        "tf.function": tf.function(lambda x: model(x, training=False),
                                   input_signature=signature),
    }
    frozen = _frozen_call(model, size)
    if frozen is not None:
        calls["frozen tf.function"] = frozen
    if jit:
        calls["tf.function(jit_compile=True)"] = tf.function(
            lambda x: model(x, training=False), jit_compile=True
        )
    return calls


def bench_inference(sizes: Sizes) -> Result:
    """One image through a compiled call vs ``model.predict`` (medians, warmed up).

    Compiled calls: a ``tf.function`` with a fixed input signature and the same function
    frozen (weights as constants); with ``inference_jit=1`` also XLA. They are timed
    interleaved, so background load falls on each alike, and the fastest is the headline.
    """
    import keras
    import numpy as np

    from ..run import models  # imports Keras: see the note at the top of the module

    if keras.backend.backend() != "tensorflow":
        raise JewelNetError("the inference figure needs the TensorFlow backend")
    import tensorflow as tf

    size, runs, batch = sizes.inference_size, sizes.inference_runs, sizes.inference_batch
    model = models.build_model("efficientnetb2", NUM_CLASSES, input_size=size, weights=None)
    rng = np.random.default_rng(0)
    one = tf.constant(rng.uniform(0, 255, (1, size, size, 3)).astype("float32"))
    many = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))

    calls = _compiled_calls(model, size, sizes.inference_jit)
    reference = calls["tf.function"](one).numpy()
    max_diff: dict[str, float] = {}
    for name, call in calls.items():
        for _ in range(3):
            out = call(one).numpy()  # trace, compile and warm up
        max_diff[name] = float(np.abs(out - reference).max())
    times = _best_of_interleaved({name: lambda call=call: call(one).numpy()
                                  for name, call in calls.items()}, runs)
    compiled_ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    best = min(compiled_ms, key=compiled_ms.__getitem__)

    model.predict(one, verbose=0)
    predict_ms = median_ms(lambda: model.predict(one, verbose=0), max(3, runs // 2))
    call = calls[best]
    call(many).numpy()
    batch_ms = median_ms(lambda: call(many).numpy(), max(3, runs // 5))
    throughput = batch / (batch_ms / 1000)
    others = ", ".join(f"{_num(ms)} ms via {name}" for name, ms in compiled_ms.items()
                       if name != best)
    return Result(
        "inference", compiled_ms[best], "ms", Goal("<", 50, "ms", "per image"),
        f"EfficientNetB2 one image {_num(compiled_ms[best])} ms via {best} (median of {runs}"
        f"{'; ' + others if others else ''}) vs {_num(predict_ms)} ms via model.predict "
        f"({_num(predict_ms / compiled_ms[best])}x); batch {batch}: {_num(throughput)} "
        f"images/s ({size} px)",
        {"compiled_ms": compiled_ms, "best_call": best, "max_abs_diff_vs_tf_function": max_diff,
         "predict_ms": predict_ms, "batch": batch, "batch_ms": batch_ms,
         "batch_images_per_s": throughput, "size": size, "runs": runs},
    )


# --------------------------------------------------------------------------------------------
# 5. Retrieval: FAISS vs NumPy brute force
# --------------------------------------------------------------------------------------------
def _unit_vectors(n: int, dim: int, seed: int) -> Any:
    """``n`` random L2-normalised float32 vectors, built in chunks to keep memory at 1x."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(block)] = block
    return out


def _clustered_unit_vectors(n: int, dim: int, clusters: int, seed: int,
                            centres: Any = None) -> tuple[Any, Any]:
    """Unit vectors scattered around ``clusters`` random centres (cosine to the centre about
    0.7), the shape real embeddings have: items of a kind sit near each other."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if centres is None:
        centres = _unit_vectors(clusters, dim, seed=seed + 1)
    out = centres[rng.integers(0, len(centres), n)]
    out = out + rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32), centres


def _ivf_index(vectors: Any, nlist: int, seed: int) -> tuple[Any, float, int]:
    """FAISS ``IndexIVFFlat`` as ``EmbeddingIndex`` builds it, but k-means on a sample.

    ``EmbeddingIndex`` trains on every vector for the default 25 iterations, which at 1M items
    and nlist = 4 sqrt(N) costs many minutes on 2 cores; the query path, the thing measured
    here, is the same. Returns (index, build seconds, training points).
    """
    import faiss
    import numpy as np

    start = time.perf_counter()
    dim = vectors.shape[1]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    points = min(len(vectors), 32 * nlist)
    index.cp.niter = 10
    # Small catalogs cannot give FAISS its 39 points per centroid; say so once, not per run.
    index.cp.min_points_per_centroid = max(1, min(32, len(vectors) // nlist))
    rng = np.random.default_rng(seed)
    index.train(vectors[np.sort(rng.choice(len(vectors), points, replace=False))])
    index.add(vectors)
    return index, time.perf_counter() - start, points


def _per_query_ms(index: Any, queries: Any, k: int) -> tuple[float, Any]:
    """Median milliseconds of one query at a time (a user waiting on one recommendation)."""
    import numpy as np

    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _scores, idx = index.search(q[None, :], k)
        times.append(time.perf_counter() - start)
        found.append(idx[0])
    return 1000 * statistics.median(times), np.stack(found)


def _recall(approx: Any, exact: Any) -> float:
    k = exact.shape[1]
    return float(sum(len(set(a) & set(e)) for a, e in zip(approx, exact, strict=True))
                 / (k * len(exact)))


def bench_retrieval(sizes: Sizes) -> Result:
    """Top-10 latency of ``EmbeddingIndex`` backends over random unit vectors, plus IVF recall.

    Uniformly random directions are the hardest case for IVF (no clusters to exploit), so its
    recall here is a floor; real embeddings cluster by class.
    """
    k, dim, n_queries = 10, sizes.retrieval_dim, sizes.retrieval_queries
    queries = _unit_vectors(n_queries, dim, seed=1)
    rows: dict[str, dict[str, Any]] = {}
    for n in sizes.retrieval_n:
        vectors = _unit_vectors(n, dim, seed=0)
        labels, paths = [0] * n, [""] * n
        row: dict[str, Any] = {"n": n}
        exact = EmbeddingIndex(vectors, paths, labels, classes=["x"], backend="numpy")
        row["numpy_ms"], truth = _per_query_ms(exact, queries, k)
        nlist, nprobe = exact.nlist, exact.nprobe
        del exact
        gc.collect()
        flat = EmbeddingIndex(vectors, paths, labels, classes=["x"], backend="faiss")
        row["faiss_flat_ms"], flat_found = _per_query_ms(flat, queries, k)
        row["faiss_flat_recall"] = _recall(flat_found, truth)
        del flat
        gc.collect()
        ivf_raw, row["ivf_build_s"], row["ivf_train_points"] = _ivf_index(vectors, nlist, 0)
        ivf = EmbeddingIndex(vectors, paths, labels, classes=["x"], backend="faiss-ivf",
                             nlist=nlist, nprobe=nprobe, faiss_index=ivf_raw)
        row["ivf_ms"], ivf_found = _per_query_ms(ivf, queries, k)
        row["ivf_recall_at_10"] = _recall(ivf_found, truth)
        row.update(nlist=nlist, nprobe=nprobe)
        row["speedup_ivf_vs_numpy"] = row["numpy_ms"] / row["ivf_ms"]
        row["speedup_flat_vs_numpy"] = row["numpy_ms"] / row["faiss_flat_ms"]
        del ivf, ivf_raw, vectors
        gc.collect()
        rows[_count(n)] = row
    clustered = _clustered_recall(min(sizes.retrieval_n), dim, n_queries, k)
    largest = rows[_count(max(sizes.retrieval_n))]
    parts = [
        f"{label}: NumPy {_num(r['numpy_ms'])} ms, FAISS flat {_num(r['faiss_flat_ms'])} ms, "
        f"FAISS IVF {_num(r['ivf_ms'])} ms ({_num(r['speedup_ivf_vs_numpy'])}x vs NumPy, "
        f"recall@10 {r['ivf_recall_at_10']:.2f}, nprobe {r['nprobe']}/{r['nlist']})"
        for label, r in rows.items()
    ]
    parts.append(f"IVF recall@10 on clustered vectors ({_count(clustered['n'])}, "
                 f"{clustered['clusters']} clusters) {clustered['ivf_recall_at_10']:.2f}")
    return Result(
        "retrieval", largest["ivf_ms"], "ms",
        Goal("<", 5, "ms", f"per query at {_count(max(sizes.retrieval_n))}"),
        f"top-{k}, one query at a time, random {dim}-d unit vectors; " + "; ".join(parts),
        {"k": k, "dim": dim, "queries": n_queries, "by_size": rows, "clustered": clustered},
    )


def _clustered_recall(n: int, dim: int, n_queries: int, k: int) -> dict[str, Any]:
    """IVF recall@k where neighbours exist: uniformly random directions have none (every
    item is about equally far), which makes any approximate index look worse than it is."""
    clusters = max(2, n // 100)
    vectors, centres = _clustered_unit_vectors(n, dim, clusters, seed=2)
    queries, _ = _clustered_unit_vectors(n_queries, dim, clusters, seed=3, centres=centres)
    labels, paths = [0] * n, [""] * n
    exact = EmbeddingIndex(vectors, paths, labels, classes=["x"], backend="numpy")
    _ms, truth = _per_query_ms(exact, queries, k)
    nlist, nprobe = exact.nlist, exact.nprobe
    del exact
    raw, _build_s, _points = _ivf_index(vectors, nlist, 0)
    ivf = EmbeddingIndex(vectors, paths, labels, classes=["x"], backend="faiss-ivf",
                         nlist=nlist, nprobe=nprobe, faiss_index=raw)
    _ms, found = _per_query_ms(ivf, queries, k)
    return {"n": n, "clusters": clusters, "nlist": nlist, "nprobe": nprobe,
            "ivf_recall_at_10": _recall(found, truth)}


def _count(n: int) -> str:
    """1000000 -> '1M', 100000 -> '100k', 2000 -> '2k', 500 -> '500'."""
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10 or 1) == 0:
            return f"{n / div:g}{suffix}"
    return str(n)


# --------------------------------------------------------------------------------------------
# 6. Synthetic data generation speed
# --------------------------------------------------------------------------------------------
def bench_synth(sizes: Sizes, workdir: Path) -> Result:
    """Images/s of the JewelSynth generator at 256 px with one worker process per CPU (the
    headline), beside one worker for scale; each run renders ``synth_images`` images, and the
    best of ``synth_repeats`` alternating runs counts.

    Measured in a fresh interpreter: right after the inference figure the bench process holds
    about 2 GiB and TensorFlow's threads, and two workers forked from it rendered at about
    half their rate (80 against 150 images/s on this machine's two cores).
    """
    per_class = max(1, sizes.synth_images // NUM_CLASSES)
    cpus = _cpus()
    spec = {"task": "synth", "out": str(workdir / "synth"), "per_class": per_class,
            "size": sizes.synth_size, "workers": sorted({1, cpus}),
            "repeats": sizes.synth_repeats}
    child = _run_child(spec, sizes.memory_timeout, workdir / "synth.log")
    rates: dict[str, float] = child["rates"]
    rate = rates[str(cpus)]
    scale = f" ({_num(rate / rates['1'])}x one worker's {_num(rates['1'])} images/s)" \
        if cpus > 1 else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return Result(
        "synth", rate, "images/s", Goal(">=", 100, "images/s"),
        f"JewelSynth at {sizes.synth_size} px, {per_class * NUM_CLASSES} images, "
        f"{_plural(cpus, 'worker')} (one per CPU): {_num(rate)} images/s{scale}, best of "
        f"{max(1, sizes.synth_repeats)}"
        + (f"; load average {load:.1f} on {_plural(cpus, 'CPU')}" if load is not None else ""),
        {"images": per_class * NUM_CLASSES, "size": sizes.synth_size, "workers": cpus,
         "images_per_s_by_workers": rates, "all_rates": child["all_rates"],
         "repeats": max(1, sizes.synth_repeats), "load_average_1min": load},
    )


def _cpus() -> int:
    """CPUs this process may use (the affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# 7. Peak memory of training each model
# --------------------------------------------------------------------------------------------
def bench_memory(sizes: Sizes, workdir: Path) -> Result:
    """Peak RSS of ``train_model`` for each model, one fresh process each (1 epoch a stage).

    Memory peaks in the first epoch of each stage (graph, activations, optimizer slots), so one
    epoch per stage finds it; the images are few, but even the thesis's whole data set is only
    tens of MB at these input sizes.
    """
    profile = get_profile(sizes.memory_profile)
    overrides = {"max_epochs": 1, "stage1_epochs": 1, "stage2_epochs": 1,
                 "stage2_epochs_per_model": {}, "max_train_per_class": None}
    data_dir, split = _noise_dataset(workdir, sizes.memory_per_class, 128)
    from concurrent.futures import ThreadPoolExecutor

    def one(model: str) -> dict[str, Any]:
        spec = {"model": model, "profile": sizes.memory_profile, "overrides": overrides,
                "data": str(data_dir), "split": str(split), "out": str(workdir / "memory"),
                "feature_cache": True}
        return _run_child(spec, sizes.memory_timeout, workdir / f"memory-{model}.log")

    with ThreadPoolExecutor(max(1, sizes.memory_parallel)) as pool:
        children = dict(zip(sizes.memory_models, pool.map(one, sizes.memory_models),
                            strict=True))
    peaks = {m: c["peak_rss_gib"] for m, c in children.items()}
    walls = {m: c["wall_s"] for m, c in children.items()}
    worst = max(peaks, key=peaks.__getitem__)
    detail = ", ".join(
        f"{_title(m)} {peaks[m]:.2f} GiB @ {profile.input_size(m)} px" for m in peaks)
    return Result(
        "memory", peaks[worst], "GiB", Goal("<", 8, "GiB", "per training process"),
        f"peak RSS of one training process, {sizes.memory_profile} profile, batch "
        f"{profile.batch_size}, 1 epoch per stage: {detail}; largest {_title(worst)}",
        {"profile": sizes.memory_profile, "peak_rss_gib": peaks, "wall_s": walls,
         "batch_size": profile.batch_size, "per_class": sizes.memory_per_class},
    )


# --------------------------------------------------------------------------------------------
# Child processes and a throwaway data set for the two figures that train for real
# --------------------------------------------------------------------------------------------
_CHILD = (
    "import json, sys\n"
    "from jewelnet_utils.tools.bench import _child_main\n"
    "_child_main(json.loads(sys.argv[1]))\n"
)


def _child_main(spec: dict[str, Any]) -> None:
    """Body of every child process: the task ``spec`` names, then its one JSON line."""
    result = _child_synth(spec) if spec.get("task") == "synth" else _child_train(spec)
    print(json.dumps({**result, "peak_rss_bytes": _peak_rss_self()}), flush=True)


def _child_synth(spec: dict[str, Any]) -> dict[str, Any]:
    """Render the same images ``repeats`` times per worker count, alternating, each time into
    a new folder; the best images/s by worker count, and every rate."""
    all_rates: dict[str, list[float]] = {str(w): [] for w in spec["workers"]}
    for r in range(max(1, int(spec.get("repeats", 1)))):
        for w in spec["workers"]:
            result = synth.generate_dataset(Path(spec["out"]) / f"w{w}-r{r}", spec["per_class"],
                                            size=spec["size"], seed=0, difficulty="thesis",
                                            workers=w, progress=False)
            all_rates[str(w)].append(result.images_per_second)
    return {"rates": {w: max(v) for w, v in all_rates.items()}, "all_rates": all_rates}


def _child_train(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``train_model`` call under an adjusted profile; its run folder."""
    from ..run import train  # imports Keras: see the note at the top of the module

    base = get_profile(spec["profile"])
    profile = dataclasses.replace(base, name=f"{base.name}-bench", **spec["overrides"])
    run_dir = train.train_model(
        spec["model"], spec["data"], spec["split"], profile=profile, out_dir=spec["out"],
        seed=0, weights=None, overwrite=True, feature_cache=spec["feature_cache"],
        progress=False,
    )
    return {"run_dir": str(run_dir)}


def _peak_rss_self() -> int:
    """Peak resident memory of this process's own address space, in bytes.

    Linux's VmHWM, not ``getrusage``: a child's ``ru_maxrss`` (also as seen by the parent
    through ``wait4`` or RUSAGE_CHILDREN) includes the forked copy of the parent before
    ``exec``, so after the bench itself has held a 1 GiB index every child would report it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource  # macOS and other Unixes: the best available (bytes on macOS, else KiB)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _run_child(spec: dict[str, Any], timeout: float, log_path: Path) -> dict[str, Any]:
    """Run :func:`_child_main` in a fresh interpreter; return its result, wall time and peak
    resident memory (which the child measures itself, see :func:`_peak_rss_self`)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
    wall = time.perf_counter() - start
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        why = f"timed out after {timeout:.0f} s" if code is None else f"exit status {code}"
        # The last line that is not TensorFlow's C++ logging ("E0000 00:00:..." and the like).
        said = [ln for ln in text.splitlines()
                if ln.strip() and not re.match(r"^[IWEF]\d{4} \d\d:\d\d:", ln)]
        last = said[-1] if said else "no output"
        what = f"training child for {spec['model']}" if "model" in spec else \
            f"{spec.get('task', 'bench')} child"
        raise RuntimeError(f"{what} failed ({why}): {last}")
    result = json.loads(next(ln for ln in reversed(text.splitlines()) if ln.startswith("{")))
    return {**result, "peak_rss_gib": result["peak_rss_bytes"] / 2**30, "wall_s": wall}


def _noise_dataset(workdir: Path, per_class: int, size: int) -> tuple[Path, Path]:
    """A folder of ``per_class`` random-noise PNGs for each class, and its split manifest.

    Noise costs the same to train on as photos and every image is distinct, so the split
    keeps them all. Made once per bench run and reused by the figures that need it.
    """
    import numpy as np
    from PIL import Image

    root = workdir / f"noise-{per_class}x{size}"
    split = workdir / f"noise-{per_class}x{size}.json"
    if split.is_file():
        return root, split
    rng = np.random.default_rng(0)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:04d}.png", compress_level=1)
    splitting.save_manifest(splitting.make_split(root, seed=0), split)
    return root, split


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _title(model: str) -> str:
    return MODEL_TITLES.get(model, model)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
FIGURES: dict[str, str] = {
    "pipeline": "tf.data + Keras 3 augmentation vs Keras 2 ImageDataGenerator (images/s)",
    "pipeline_vs_compute": "training fed by the pipeline vs from memory (steps/s)",
    "feature_cache": "stage 1 on cached features vs through the frozen backbone",
    "inference": "EfficientNetB2 latency of one image and batch throughput",
    "retrieval": "FAISS vs NumPy top-10 over random embeddings",
    "synth": "synthetic image generation (images/s)",
    "memory": "peak memory of training each model",
}


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPUs, memory, load, platform and library versions."""
    import importlib.metadata as md

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": cpu_model() or platform.processor() or "unknown",
        "python": platform.python_version(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    libraries = library_versions()
    for name in ("tf-keras", "psutil"):
        try:
            libraries[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    info["libraries"] = libraries
    return info


def _selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(FIGURES)
    unknown = [name for name in only if name not in FIGURES]
    if unknown:
        raise JewelNetError(
            f"unknown bench figure {unknown[0]!r}; choose from: {', '.join(FIGURES)}"
        )
    return [name for name in FIGURES if name in only]


def _run_one(name: str, sizes: Sizes, workdir: Path) -> Result:
    runners: dict[str, Callable[[], Result]] = {
        "pipeline": lambda: bench_pipeline(sizes),
        "pipeline_vs_compute": lambda: bench_pipeline_vs_compute(sizes),
        "feature_cache": lambda: bench_feature_cache(sizes, workdir),
        "inference": lambda: bench_inference(sizes),
        "retrieval": lambda: bench_retrieval(sizes),
        "synth": lambda: bench_synth(sizes, workdir),
        "memory": lambda: bench_memory(sizes, workdir),
    }
    start = time.perf_counter()
    result = runners[name]()
    result.seconds = time.perf_counter() - start
    return result


def _check_writable(path: Path) -> None:
    """Fail before minutes of measuring, not after, when the JSON cannot be written there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}."):
            pass
    except OSError as err:
        raise JewelNetError(f"cannot write {path}: {err.strerror or err}") from err


def _provenance(sizes: Sizes) -> dict[str, Any]:
    """What every results record must say (records.py): the bench trains from random
    initialisation on noise images it makes itself; JewelSynth only times the generator."""
    profiles = sorted({sizes.compute_profile, sizes.cache_profile, sizes.memory_profile})
    return provenance("none (random initialisation: the bench builds every model with "
                      "weights=None)",
                      "random-noise images and arrays made by the bench (seed 0); JewelSynth, "
                      "thesis difficulty, seed 0, for the synth figure only",
                      0, ", ".join(profiles))


def run(quick: bool = False, only: list[str] | None = None,
        size_overrides: Iterable[str] = (),
        json_out: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run the figures (all, or those named in ``only``), print one line each, return the report.

    The notebooks call this directly. The JSON is written once, at the end (atomically), so an
    interrupted or failed run leaves the previous results in place.
    """
    names = _selected(only)
    sizes = (QUICK_SIZES if quick else FULL_SIZES).override(size_overrides)
    out_path = Path(json_out) if json_out else None
    if out_path is not None:
        _check_writable(out_path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    report: dict[str, Any] = {
        "version": BENCH_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "jewelnet bench" + (" --quick" if quick else ""),
        "quick": quick,
        "machine": machine_info(),
        "provenance": _provenance(sizes),
        "sizes": dataclasses.asdict(sizes),
        "figures": {},
        "errors": {},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jewelnet-bench-") as tmp:
        for name in names:
            try:
                result = _run_one(name, sizes, Path(tmp))
            except Exception as err:  # noqa: BLE001 - one broken figure must not hide the others
                message = f"{type(err).__name__}: {err}".splitlines()[0]
                print(f"{name}: error ({message})", flush=True)
                report["errors"][name] = message
            else:
                print(result.line(), flush=True)
                report["figures"][name] = result.to_dict()
            finally:
                gc.collect()
    total = time.perf_counter() - start
    report["total_seconds"] = round(total, 1)
    report["machine"]["load_average_end"] = machine_info().get("load_average")
    print(f"total: {total:.0f} s for {len(names)} figure(s){' (--quick)' if quick else ''}",
          flush=True)
    if out_path is not None:
        atomic_write_json(out_path, report)
        # Relative to where we run (a notebook page must not show the build machine's folders).
        shown = os.path.relpath(out_path)
        print(f"wrote {out_path if shown.startswith('../..') else shown}", flush=True)
    return report


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``--json`` report (the book's efficiency section uses this)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def newest_record(folder: str | os.PathLike[str], quick: bool | None = False) -> Path | None:
    """The most recent ``bench*.json`` report in ``folder`` (by its ``created`` time), or None.

    ``quick`` picks full runs (False), ``--quick`` runs (True) or either (None).
    """
    best: tuple[str, Path] | None = None
    for path in sorted(Path(folder).glob("bench*.json")):
        try:
            report = load_results(path)
        except (OSError, ValueError):
            continue
        if not isinstance(report, dict) or "figures" not in report:
            continue
        if quick is not None and bool(report.get("quick")) != quick:
            continue
        key = str(report.get("created", ""))
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None


def describe_run(report: dict[str, Any]) -> str:
    """One line on where and how a report was measured: command, date, machine, load, time."""
    machine = report.get("machine", {})
    libs = machine.get("libraries", {})
    load = machine.get("load_average") or []
    load_end = machine.get("load_average_end") or []
    cpus = machine.get("cpus_available", machine.get("cpu_count"))
    parts = [
        f"`{report.get('command', 'jewelnet bench')}` on {report.get('created', '?')}",
        f"{cpus} CPUs ({machine.get('processor', 'unknown')}), "
        f"{machine.get('memory_gib', '?')} GiB",
        f"load average {load[0] if load else '?'} at the start, "
        f"{load_end[0] if load_end else '?'} at the end",
        f"TensorFlow {libs.get('tensorflow', '?')}, Keras {libs.get('keras', '?')}",
        f"{report.get('total_seconds', '?')} s in all",
    ]
    return "; ".join(parts)


def results_table(report: dict[str, Any]) -> Any:
    """The report as a table: one row per figure with its value, goal and whether it is met."""
    import pandas as pd

    rows = []
    for name in FIGURES:
        if name in report.get("figures", {}):
            fig = report["figures"][name]
            rows.append({"figure": name, "what": FIGURES[name],
                         "measured": _with_unit(fig["value"], fig["unit"]), "goal": fig["goal"],
                         "met": "yes" if fig["goal_met"] else "no", "details": fig["detail"]})
        elif name in report.get("errors", {}):
            rows.append({"figure": name, "what": FIGURES[name], "measured": "error",
                         "goal": "", "met": "no", "details": report["errors"][name]})
    return pd.DataFrame(rows, columns=["figure", "what", "measured", "goal", "met", "details"])
