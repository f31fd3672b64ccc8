"""Our own pretrained backbones: a pretext task on unlabelled JewelSynth images.

ImageNet weights cannot always be had (offline machines), and a backbone trained from random
weights on ~850 images in a few CPU minutes stays near chance. So ``jewelnet pretrain`` trains
each backbone on a task that never sees the eight class labels: from JewelSynth images of
*another* data seed it predicts how each image was rendered and how we turned it. The heads
(``Recipe.heads``) are

- ``metal``: which of the four metals (a softmax head);
- ``quarter``: by how many quarter turns we rotated the image before showing it (each epoch
  draws new turns; the object's upright pose is fixed by the renderer, so telling the turn
  needs the object's shape);
- ``mask``: the object's silhouette on a coarse grid (area fraction per cell, sigmoid),
  turned with the image;
- ``light``: the light direction as (cos, sin), and ``pose``: the object's rotation and
  offset plus the photo's brightness, contrast and shadow (z-scored regression). These two
  learned little in our measurements and cannot be combined with ``quarter`` (a turn would
  change their targets), so the default recipe leaves them out.

Metal, light, rotation, brightness, contrast and shadow are drawn independently of the class;
the turns are ours; the silhouette is the renderer's object mask. The offsets are drawn
uniformly too, but their range shrinks for large objects, so they carry a trace of the
object's size (hence of the class) and stay out of the default recipe. The metadata fields
that depend on the class (``style``, ``ambiguous``, ``aspect``, ``scale``, ``background``/
``bg_colour`` through the class's skin probability, ``cropped``/``crop_fraction`` through
forced crops, ``gem_colour`` through which classes carry a stone) are never used. The class
only picks what the renderer draws, as the generator does; it is never stored or predicted.

This is domain-adaptive pretraining: the source images share JewelSynth's renderer, so the
source sits far closer to the target than ImageNet sits to real photos, and the book must say
so next to any result from these backbones.

The backbone is written to a per-machine cache keyed by the recipe and the generator version
(``backbone_path``), through a temporary file and ``os.replace``, so a half-written file is
never read. Training checkpoints after every epoch (weights and optimizer); a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts.config import (
    CLASSES,
    MODEL_TITLES,
    STOCHASTIC_DEPTH_BACKBONES,
    JewelNetError,
    Profile,
    check_model,
    get_profile,
)
from ..contracts.utils import atomic_write_json, library_versions, set_seed
from ..images import synth

# Bump when the code below would train another backbone from the same recipe.
FORMAT_VERSION = 1
SOURCE_NAME = "pretext"  # the --weights value that means "our cached pretext backbone"
METAL_NAMES = tuple(synth.METALS)
# Regression targets of the ``pose`` head, in this order (all class-independent draws).
POSE_FIELDS = ("rotation", "offset_x", "offset_y", "brightness", "contrast", "shadow")
BACKBONES = ("vgg16", "resnet50", "efficientnetb2")
HEADS = ("metal", "quarter", "mask", "light", "pose", "shape", "texture")
# Where the source images come from: unlabelled JewelSynth jewelry of another seed, or the
# non-jewelry figures of ``synth.shapes`` (shape and texture are that source's own labels).
SOURCES = ("jewelsynth", "shapes")
CLASS_HEADS = ("metal", "quarter", "shape", "texture")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the pretrained weights (hashed into the cache key)."""

    model: str
    input_size: int  # pretraining size; conv weights do not depend on it
    source: str = "jewelsynth"
    images: int = 4800
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 1e-4
    heads: tuple[str, ...] = ("metal", "quarter", "mask")
    warmup_fraction: float = 0.1  # of all updates, linear from 0, then cosine to 0
    mask_grid: int = 16  # divides the render size, so each cell is an exact pixel block
    head_units: int = 256
    val_fraction: float = 0.1
    data_seed: int = 1  # the default data set is seed 0; this one never overlaps it
    render_size: int = 256
    difficulty: str = "thesis"
    seed: int = 42
    # EfficientNet drops whole residual blocks at random while it trains (stochastic depth,
    # Keras's default rate 0.2). It regularises long schedules; in a short one from random
    # weights it only slows learning, so a recipe may switch it off for pretraining.
    stochastic_depth: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.heads) - set(HEADS)
        if unknown or not self.heads:
            raise JewelNetError(f"pretext heads must be some of {', '.join(HEADS)}; got "
                                f"{', '.join(self.heads) or 'none'}")
        if self.source not in SOURCES:
            raise JewelNetError(f"pretext source must be one of {', '.join(SOURCES)}; got "
                                f"{self.source}")
        if self.source != "shapes" and {"shape", "texture"} & set(self.heads):
            raise JewelNetError("the shape and texture heads need the shapes source")
        if self.source == "shapes" and "quarter" in self.heads:
            raise JewelNetError("the shapes are drawn at any angle, so quarter turns cannot "
                                "be told; leave the quarter head out")
        if "quarter" in self.heads and {"light", "pose"} & set(self.heads):
            raise JewelNetError("the quarter head turns the images, which changes the light "
                                "and pose targets; use it without them")
        if not self.stochastic_depth and self.model not in STOCHASTIC_DEPTH_BACKBONES:
            raise JewelNetError(f"{self.model} has no stochastic depth to switch off; only "
                                f"{', '.join(STOCHASTIC_DEPTH_BACKBONES)} has")

    def key(self) -> str:
        """Short hash of the recipe, the generator version and this module's format."""
        recipe = dataclasses.asdict(self)
        if recipe["stochastic_depth"]:
            # Added after the first backbones were cached: hashed only when switched off, so
            # the keys (and caches) of the recipes that keep it stay what they were.
            del recipe["stochastic_depth"]
        blob = json.dumps({"recipe": recipe, "generator": synth.VERSION,
                           "format": FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def recipe_for(model: str, profile: Profile | str | None = None) -> Recipe:
    """The profile's pretext recipe for ``model``: ``Profile.pretext`` overrides the defaults,
    and its ``per_model`` entry overrides those for one backbone."""
    check_model(model)
    if model not in BACKBONES:
        raise JewelNetError(f"{model} has no pretrained backbone (it is trained from scratch); "
                            f"choose one of: {', '.join(BACKBONES)}")
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    overrides = dict(prof.pretext)
    overrides.update(overrides.pop("per_model", {}).get(model, {}))
    overrides.setdefault("input_size", prof.input_size(model))
    if "heads" in overrides:
        overrides["heads"] = tuple(overrides["heads"])
    return Recipe(model=model, render_size=prof.synth_size, difficulty=prof.synth_difficulty,
                  **overrides)


# --------------------------------------------------------------------------- cache

def cache_root() -> Path:
    """$JEWELNET_CACHE, else $XDG_CACHE_HOME/jewelnet, else ~/.cache/jewelnet."""
    env = os.environ.get("JEWELNET_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "jewelnet"


def backbone_path(recipe: Recipe) -> Path:
    """Where the finished backbone of ``recipe`` lives (it exists only once complete)."""
    from .models import PRETEXT_SUFFIX

    return cache_root() / "backbones" / f"{recipe.model}-{recipe.key()}{PRETEXT_SUFFIX}"


def record_path_of(backbone: Path) -> Path:
    """The JSON record (source-task scores, timings) kept beside a cached backbone."""
    from .models import PRETEXT_SUFFIX

    return backbone.with_name(backbone.name.removesuffix(PRETEXT_SUFFIX) + ".json")


def work_dir(recipe: Recipe) -> Path:
    """Checkpoints of an unfinished pretraining (removed when it completes)."""
    return cache_root() / "backbones" / "partial" / f"{recipe.model}-{recipe.key()}"


def record_of_run(config: Any) -> dict[str, Any] | None:
    """The pretraining record of the cached backbone a run started from (its config names the
    file), or None when the run used other weights or the record is gone."""
    weights_file = config.fields.get("weights_file") if config.weights == SOURCE_NAME else None
    if not weights_file:
        return None
    return read_record(Path(weights_file))


def read_record(backbone: Path) -> dict[str, Any] | None:
    """The record ``pretrain`` wrote beside a cached backbone, or None when it is gone."""
    path = record_path_of(backbone)
    return json.loads(path.read_text()) if path.is_file() else None


def pretrained_with_stochastic_depth(backbone: Path) -> bool:
    """Whether the cached backbone was pretrained with stochastic depth on, as its record says
    (a backbone without a record is taken to have Keras's default, on)."""
    record = read_record(Path(backbone)) or {}
    return bool(record.get("recipe", {}).get("stochastic_depth", True))


def resolve_backbone(model: str, profile: Profile | str | None = None) -> Path:
    """The cached pretext backbone of ``model``, or one clear line saying how to make it."""
    recipe = recipe_for(model, profile)
    path = backbone_path(recipe)
    if not path.is_file():
        prof = profile.name if isinstance(profile, Profile) else get_profile(profile).name
        raise JewelNetError(
            f"no pretext backbone for {model} in {path.parent} (recipe {recipe.key()}); "
            f"build it with: jewelnet pretrain --model {model} --profile {prof}"
        )
    return path


def weights_record(model: str, profile: Profile | str | None = None) -> dict[str, Any]:
    """What a run records about its ``pretext`` weights: the file, its recipe key and the
    generator version (raises the one-line "run jewelnet pretrain" error when missing)."""
    path = resolve_backbone(model, profile)
    return {"weights_file": str(path.resolve()), "weights_recipe": recipe_for(model, profile).key(),
            "weights_generator_version": synth.VERSION}


# --------------------------------------------------------------------------- source images

def _render_one(args: tuple[int, int, int, int, str, int, str]) -> tuple[np.ndarray, np.ndarray,
                                                                       dict[str, Any]]:
    """Image (uint8, input size), coarse mask and metadata of pretext image ``i``."""
    from PIL import Image

    i, seed, render_size, size, difficulty, grid, source = args
    if source == "shapes":
        shape = synth.SHAPE_NAMES[i % len(synth.SHAPE_NAMES)]
        sample = synth.render_shape_sample(shape, seed, i // len(synth.SHAPE_NAMES),
                                           render_size, difficulty)
    else:
        # The class only chooses what to draw (round robin); it is never stored or predicted.
        cls = CLASSES[i % len(CLASSES)]
        sample = synth.render_sample(cls, synth.image_rng(seed, cls, i // len(CLASSES)),
                                     render_size, difficulty)
    image = np.asarray(sample.image.convert("RGB").resize((size, size), Image.Resampling.BOX))
    cells = sample.mask.astype(np.float32).reshape(grid, render_size // grid, grid, -1)
    mask = cells.mean(axis=(1, 3)) if render_size % grid == 0 else _resize_mask(sample.mask, grid)
    return image, mask.astype(np.float32).ravel(), sample.meta


def _resize_mask(mask: np.ndarray, grid: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray((mask * 255).astype(np.uint8))
    return np.asarray(img.resize((grid, grid), Image.Resampling.BOX), dtype=np.float32) / 255


def render_source(recipe: Recipe, workers: int | None = None,
                  progress: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render the unlabelled source images and their pretext targets."""
    from tqdm.auto import tqdm

    jobs = [(i, recipe.data_seed, recipe.render_size, recipe.input_size, recipe.difficulty,
             recipe.mask_grid, recipe.source) for i in range(recipe.images)]
    workers = workers or os.cpu_count() or 1
    bar = {"total": len(jobs), "desc": "render source", "disable": not progress}
    if workers == 1:
        return _stack(list(tqdm(map(_render_one, jobs), **bar)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(_render_one, jobs, chunksize=32), **bar))
    return _stack(results)


def _stack(results: list) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images = np.stack([r[0] for r in results]).astype(np.float32)
    return images, targets_from(results)


def targets_from(results: list) -> dict[str, np.ndarray]:
    """Pretext targets from (image, mask, metadata) triples; never a class-dependent field."""
    metas = [r[2] for r in results]
    metal = np.array([METAL_NAMES.index(m["metal"]) for m in metas])
    light = np.radians([float(m["light_deg"]) for m in metas])
    pose = np.array([[float(m[f]) for f in POSE_FIELDS] for m in metas], dtype=np.float32)
    pose = (pose - pose.mean(axis=0)) / np.maximum(pose.std(axis=0), 1e-6)
    targets = {
        "metal": np.eye(len(METAL_NAMES), dtype=np.float32)[metal],
        "light": np.stack([np.cos(light), np.sin(light)], axis=1).astype(np.float32),
        "pose": pose.astype(np.float32),
        "mask": np.stack([r[1] for r in results]).astype(np.float32),
    }
    if all("texture" in m for m in metas):  # the shapes source: its figures' own labels
        targets["shape"] = _one_hot([m["class"] for m in metas], synth.SHAPE_NAMES)
        targets["texture"] = _one_hot([m["texture"] for m in metas], synth.TEXTURES)
    return targets


def _one_hot(names: list[str], vocabulary: tuple[str, ...]) -> np.ndarray:
    return np.eye(len(vocabulary), dtype=np.float32)[[vocabulary.index(n) for n in names]]


# --------------------------------------------------------------------------- model

def build_pretext_model(recipe: Recipe) -> Any:
    """Backbone (named ``backbone``, the classifier's own graph) + GAP + the recipe's heads,
    each a hidden Dense layer and an output."""
    import keras

    from . import models

    size = recipe.input_size
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    if recipe.model in models.PREPROCESSED_BACKBONES:
        x = models.BackbonePreprocess(recipe.model, name="preprocess")(x)
    backbone = models.build_backbone(recipe.model, size)
    if not recipe.stochastic_depth:
        models.switch_off_stochastic_depth(backbone)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(backbone(x))
    outputs = {}
    for name in recipe.heads:
        units, activation, _loss = _head_spec(name, recipe)
        hidden = keras.layers.Dense(recipe.head_units, activation="relu",
                                    name=f"{name}_hidden")(x)
        outputs[name] = keras.layers.Dense(units, activation=activation, name=name)(hidden)
    return keras.Model(inputs, outputs, name=f"pretext_{recipe.model}")


def _head_spec(name: str, recipe: Recipe) -> tuple[int, str | None, str]:
    """(output units, activation, loss) of one pretext head."""
    return {"metal": (len(METAL_NAMES), "softmax", "categorical_crossentropy"),
            "quarter": (4, "softmax", "categorical_crossentropy"),
            "mask": (recipe.mask_grid ** 2, "sigmoid", "binary_crossentropy"),
            "light": (2, None, "mse"),
            "pose": (len(POSE_FIELDS), None, "mse"),
            "shape": (len(synth.SHAPE_NAMES), "softmax", "categorical_crossentropy"),
            "texture": (len(synth.TEXTURES), "softmax", "categorical_crossentropy")}[name]


def compile_pretext(model: Any, recipe: Recipe, steps: int) -> None:
    """Adam with linear warm-up then cosine decay (plain Adam at a fixed rate stalls deep
    backbones trained from random weights)."""
    import keras

    warmup = max(1, int(steps * recipe.warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - warmup), warmup_target=recipe.learning_rate,
        warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss={name: _head_spec(name, recipe)[2] for name in recipe.heads},
        metrics={name: ["accuracy"] for name in recipe.heads if name in CLASS_HEADS},
    )


# --------------------------------------------------------------------------- training

def _split(n: int, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(recipe.seed).permutation(n)
    n_val = max(1, int(round(n * recipe.val_fraction)))
    return order[n_val:], order[:n_val]


def _pick(targets: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in targets.items()}


def batch_for(images: np.ndarray, targets: dict[str, np.ndarray], idx: np.ndarray,
              recipe: Recipe, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Images ``idx`` and their targets for the recipe's heads; with the ``quarter`` head each
    image (and its mask) is turned by a random number of quarter turns, the new target."""
    x, y = images[idx], {k: v[idx] for k, v in targets.items() if k in recipe.heads}
    if "quarter" not in recipe.heads:
        return x, y
    turns = rng.integers(0, 4, len(idx))
    grid = recipe.mask_grid
    masks = y["mask"].reshape(-1, grid, grid) if "mask" in y else None
    for k in (1, 2, 3):
        sel = turns == k
        x[sel] = np.rot90(x[sel], k, axes=(1, 2))
        if masks is not None:
            masks[sel] = np.rot90(masks[sel], k, axes=(1, 2))
    if masks is not None:
        y["mask"] = masks.reshape(len(idx), -1)
    y["quarter"] = np.eye(4, dtype=np.float32)[turns]
    return x, y


def _save_checkpoint(model: Any, ckpt: Path, epoch: int) -> None:
    """Model + optimizer after ``epoch`` finished epochs; the state file is written last."""
    ckpt.mkdir(parents=True, exist_ok=True)
    tmp = ckpt / f".tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, ckpt / "last.keras")
    atomic_write_json(ckpt / "state.json", {"epochs_done": epoch})


def _load_checkpoint(ckpt: Path) -> tuple[Any, int] | None:
    """(model, epochs done) of an interrupted run, or None if there is nothing usable."""
    import keras

    from .models import CUSTOM_OBJECTS

    state, weights = ckpt / "state.json", ckpt / "last.keras"
    if not (state.is_file() and weights.is_file()):
        return None
    try:
        done = int(json.loads(state.read_text())["epochs_done"])
        model = keras.models.load_model(weights, custom_objects=CUSTOM_OBJECTS, compile=True)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint means starting afresh
        return None
    return model, done


def _write_backbone(model: Any, target: Path) -> None:
    """Save the backbone's weights through a temporary file, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keras wants the .weights.h5 suffix; the dot prefix keeps the temp apart from finished files.
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    try:
        model.get_layer("backbone").save_weights(str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def evaluate_heads(model: Any, images: np.ndarray, targets: dict[str, np.ndarray],
                   baseline: dict[str, np.ndarray], batch_size: int) -> dict[str, Any]:
    """Per-head source-task scores on held-out images, beside a no-skill baseline (the
    training set's majority metal and mean targets)."""
    pred = model.predict(images, batch_size=batch_size, verbose=0)
    scores: dict[str, Any] = {"n": int(len(images))}
    for name in pred:
        scores.update(_HEAD_SCORES[name](pred[name], targets[name], baseline[name]))
    return scores


def _class_scores(name: str):
    def score(pred: np.ndarray, true: np.ndarray, base: np.ndarray) -> dict[str, float]:
        label = true.argmax(1)
        return {f"{name}_accuracy": float((pred.argmax(1) == label).mean()),
                f"{name}_accuracy_baseline": float((label == base.sum(0).argmax()).mean())}
    return score


def _light_scores(pred: np.ndarray, true: np.ndarray, base: np.ndarray) -> dict[str, float]:
    def angle(v: np.ndarray) -> np.ndarray:
        return np.arctan2(v[..., 1], v[..., 0])

    def error(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.degrees(np.abs(np.angle(np.exp(1j * (a - b))))).mean())

    return {"light_error_deg": error(angle(pred), angle(true)),
            "light_error_deg_baseline": error(angle(base.mean(0)), angle(true))}


def _pose_scores(pred: np.ndarray, true: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    mae = np.abs(pred - true).mean(axis=0)
    mae_base = np.abs(base.mean(axis=0) - true).mean(axis=0)
    return {"pose_mae_z": dict(zip(POSE_FIELDS, map(float, mae), strict=True)),
            "pose_mae_z_baseline": dict(zip(POSE_FIELDS, map(float, mae_base), strict=True))}


def _mask_scores(pred: np.ndarray, true: np.ndarray, base: np.ndarray) -> dict[str, float]:
    mean = np.broadcast_to(base.mean(0), true.shape)
    return {"mask_iou": _mask_iou(pred, true), "mask_iou_baseline": _mask_iou(mean, true)}


_HEAD_SCORES = {**{name: _class_scores(name) for name in CLASS_HEADS},
                "light": _light_scores, "pose": _pose_scores, "mask": _mask_scores}


def _mask_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Soft IoU (sum of minima over sum of maxima): the targets are area fractions, and thin
    metal rarely fills half a cell, so thresholding at 0.5 would score every image zero."""
    inter = np.minimum(pred, true).sum(1)
    union = np.maximum(pred, true).sum(1)
    return float(np.mean(inter / np.maximum(union, 1e-6)))


def pretrain(recipe: Recipe, *, progress: bool = True, workers: int | None = None,
             force: bool = False) -> dict[str, Any]:
    """Train ``recipe``'s backbone (resuming an interrupted run) and cache it. Returns the
    record (also written beside the backbone as ``.json``); a cached backbone is reused."""
    target = backbone_path(recipe)
    if target.is_file() and not force:
        return {**(read_record(target) or {}), "path": str(target), "reused": True}
    import keras

    wall0, cpu0, load0 = time.time(), time.process_time(), os.getloadavg()
    images, targets = render_source(recipe, workers=workers, progress=progress)
    render_s = time.time() - wall0
    train_idx, val_idx = _split(len(images), recipe)
    steps_per_epoch = math.ceil(len(train_idx) / recipe.batch_size)
    ckpt = work_dir(recipe)
    resumed = None if force else _load_checkpoint(ckpt)
    set_seed(recipe.seed)
    if resumed is None:
        model, done = build_pretext_model(recipe), 0
        compile_pretext(model, recipe, steps_per_epoch * recipe.epochs)
    else:
        model, done = resumed
    history: list[dict[str, float]] = []
    for epoch in range(done, recipe.epochs):
        # Each epoch's order depends only on (seed, epoch): a resumed run sees what an
        # uninterrupted one would have seen.
        rng = np.random.default_rng([recipe.seed, epoch])
        x, y = batch_for(images, targets, train_idx[rng.permutation(len(train_idx))], recipe,
                         rng)
        if progress:
            print(f"pretrain {recipe.model}: epoch {epoch + 1}/{recipe.epochs}", flush=True)
        fit = model.fit(x, y, batch_size=recipe.batch_size, epochs=1, shuffle=False,
                        verbose=1 if progress else 0)
        del x, y
        history.append({k: float(v[-1]) for k, v in fit.history.items()})
        _save_checkpoint(model, ckpt, epoch + 1)
    # Held-out images with their own fixed turns; the baseline knows the training targets.
    val_x, val_y = batch_for(images, targets, val_idx, recipe,
                             np.random.default_rng([recipe.seed, recipe.epochs]))
    _x, train_y = batch_for(images, targets, train_idx, recipe, np.random.default_rng(0))
    del _x
    scores = evaluate_heads(model, val_x, val_y, train_y, recipe.batch_size)
    _write_backbone(model, target)
    record = {
        "source": SOURCE_NAME, "model": recipe.model, "recipe": dataclasses.asdict(recipe),
        "key": recipe.key(), "generator_version": synth.VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_task": scores, "history": history, "resumed_from_epoch": done,
        "render_s": round(render_s, 1), "wall_s": round(time.time() - wall0, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "load_average": {"start": list(load0), "end": list(os.getloadavg())},
        "cpu_count": os.cpu_count(), "libraries": library_versions(),
    }
    atomic_write_json(record_path_of(target), record)
    _remove_tree(ckpt)
    keras.backend.clear_session()
    return {**record, "path": str(target), "reused": False}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- profiles

def backbones_needed(profile: Profile) -> tuple[str, ...]:
    """The backbones ``profile``'s default weights read from the cache (all or none)."""
    return BACKBONES if profile.default_weights == SOURCE_NAME else ()


HEAD_TITLES = {"metal": "metal (4 kinds)", "quarter": "quarter turn (4)",
               "shape": f"figure ({len(synth.SHAPE_NAMES)} shapes)",
               "texture": f"texture ({len(synth.TEXTURES)} kinds)", "mask": "silhouette",
               "light": "light direction", "pose": "pose and camera"}
SOURCE_SHORT = {"jewelsynth": "unlabelled jewelry", "shapes": "figures"}
SOURCE_TITLES = {"jewelsynth": "unlabelled JewelSynth jewelry of another seed",
                 "shapes": "JewelSynth's non-jewelry figures"}


def source_task_table(record: dict[str, Any]) -> Any:
    """How well a cached backbone learned its source task: per head, the score on held-out
    source images beside the no-skill score (the training set's majority or mean)."""
    import pandas as pd

    task, rows = record["source_task"], {}
    for head in record["recipe"]["heads"]:
        if head in CLASS_HEADS:
            rows[HEAD_TITLES[head]] = ("accuracy", task[f"{head}_accuracy"],
                                       task[f"{head}_accuracy_baseline"])
        elif head == "mask":
            rows[HEAD_TITLES[head]] = ("soft IoU", task["mask_iou"], task["mask_iou_baseline"])
        elif head == "light":
            rows[HEAD_TITLES[head]] = ("error, degrees", task["light_error_deg"],
                                       task["light_error_deg_baseline"])
        else:
            rows[HEAD_TITLES[head]] = ("mean error, z", np.mean(list(task["pose_mae_z"].values())),
                                       np.mean(list(task["pose_mae_z_baseline"].values())))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["Measure", "Held out",
                                                                  "No skill"])
    return table.round(3)


def describe_record(record: dict[str, Any]) -> str:
    """One line: source, size of the task, and what pretraining cost, for a cached backbone."""
    recipe = record["recipe"]
    source = SOURCE_TITLES[recipe.get("source", "jewelsynth")]
    return (f"{MODEL_TITLES.get(record['model'], record['model'])} backbone, pretrained on "
            f"{recipe['images']:,} images of {source} for {recipe['epochs']} epochs at "
            f"{recipe['input_size']} px{_without_stochastic_depth(recipe)} (recipe "
            f"{record['key']}, {record['wall_s']:.0f} s on {record['cpu_count']} CPU cores)")


def _without_stochastic_depth(recipe: dict[str, Any]) -> str:
    return "" if recipe.get("stochastic_depth", True) else ", stochastic depth off"


def transfer_table(record: dict[str, Any]) -> Any:
    """The reader's view of a ``scripts/pretrain_transfer.py`` record: per measured backbone,
    its recipe, how well it learned the pretext task, and the target test accuracy from it
    against random initialisation (same profile, split and seed)."""
    import pandas as pd

    rows = []
    scratch_of = {}  # a row may reuse an earlier row's random-init run (it says so in text)
    for row in record["backbones"]:
        recipe = row["pretrain"]["recipe"]
        task = row["pretrain"].get("source_task", {})
        ours, scratch = row["runs"]["pretext"], row["runs"]["none"]
        if isinstance(scratch, dict):
            scratch_of[row["model"]] = scratch
        else:
            scratch = scratch_of[row["model"]]
        low, high = ours["test_accuracy_ci95"]
        source = recipe.get("source", "jewelsynth")
        # A row's note opens with the recipe's name ("recipe v2, ..."), when it has one.
        name = row.get("note", "").split(",")[0].split(" (")[0]
        rows.append({
            "Backbone": MODEL_TITLES.get(row["model"], row["model"]),
            "Pretext recipe": f"{name + ': ' if name else ''}{SOURCE_SHORT[source]}, "
                              f"{recipe['epochs']} epochs at {recipe['input_size']} px",
            "Source task (turn or figure)": _versus(task, "shape_accuracy" if source == "shapes"
                                           else "quarter_accuracy"),
            "Test, our backbone": f"{100 * ours['test_accuracy']:.1f}% "
                                  f"[{100 * low:.1f}, {100 * high:.1f}]",
            "Test, random init": f"{100 * scratch['test_accuracy']:.1f}%",
            "Gain (points)": f"{row['gain_points']:+.1f}",
            "McNemar p": f"{row['mcnemar']['p']:.2g}",
        })
    return pd.DataFrame(rows).set_index("Backbone").rename_axis(None)


SWEEP_NAMES = {1: "first", 2: "second"}


def recipe_curves(record: dict[str, Any], model: str = "efficientnetb2",
                  input_size: int = 64, longest_schedule: int = 22) -> Any:
    """Source-task learning curves of a recipe-sweep record (``results/pretrain-effnet-sweep-
    *.json``): one row per variant and epoch, with the figure (shape) accuracy on the training
    set. Only ``model``'s variants at ``input_size`` whose cosine schedule is at most
    ``longest_schedule`` epochs (the old cpu recipe's 22), so that every curve is comparable
    epoch for epoch."""
    import pandas as pd

    rows = []
    for variant in record["variants"]:
        recipe = variant.get("recipe", {})
        if (variant.get("model") != model or recipe.get("input_size") != input_size
                or recipe.get("epochs", 0) > longest_schedule or not variant["epochs"]):
            continue
        label = (f"stochastic depth {'off' if variant['stochastic_depth'] == 'off' else 'on'}, "
                 f"batch {recipe['batch_size']}, {variant['optimizer'].split(',')[0]}, "
                 f"{recipe['epochs']}-epoch schedule ({SWEEP_NAMES[variant['device_call']]} sweep)")
        rows += [{"variant": label, "epoch": e["epoch"], "figure accuracy (train)":
                  e["shape_accuracy"]} for e in variant["epochs"]]
    return pd.DataFrame(rows)


def _versus(task: dict[str, Any], key: str) -> str:
    """'54% (chance 20%)' for a source-task score beside its no-skill baseline (the quarter
    turns of the jewelry recipes, the figure of the shapes recipes)."""
    if key not in task:
        return "–"
    return f"{100 * task[key]:.0f}% (chance {100 * task[key + '_baseline']:.0f}%)"
