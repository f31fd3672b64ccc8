"""Configuration as data: the eight classes, the four architectures and the run profiles.

The thesis's numbers (Tables 4.1-4.4 and B.1) are transcribed once, in ``thesis.py``; the model
specs and the ``paper`` profile are built from them. Where the thesis is ambiguous the ``paper``
profile holds our reading, and ``protocol.py`` writes every such reading down, with its
alternatives, in the appendix "Protocol: thesis and ours". The ``cpu`` and ``smoke`` profiles
are copies with smaller sizes, never copies of code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .thesis import TABLE_4_2, TABLE_4_4, TABLE_B_1, augmented_passes

# Fixed class order used everywhere (labels, confusion matrices, tables). Folder names are
# normalised onto these keys, so "Nose Pin", "nose_pin" and "nose-pin" are one class.
CLASSES: tuple[str, ...] = (
    "bangle",
    "bracelet",
    "chain",
    "earring",
    "necklace",
    "pendant",
    "ring",
    "nose_pin",
)
DISPLAY_NAMES: dict[str, str] = {c: c.replace("_", " ").title() for c in CLASSES}

MODELS: tuple[str, ...] = ("custom_cnn", "vgg16", "resnet50", "efficientnetb2")
MODEL_TITLES: dict[str, str] = {
    "custom_cnn": "Custom CNN",
    "vgg16": "VGG16",
    "resnet50": "ResNet50",
    "efficientnetb2": "EfficientNetB2",
}
# Backbones whose Keras graph drops whole residual blocks at random while training (stochastic
# depth): Keras's EfficientNet ends each repeated block with such a Dropout, "<block>_drop".
STOCHASTIC_DEPTH_BACKBONES: tuple[str, ...] = ("efficientnetb2",)
# Layers of Keras's EfficientNetB2 base without its top (a test builds it and counts them).
EFFICIENTNETB2_BACKBONE_LAYERS = 339

DEFAULT_DATA_DIR = Path("data/jewelsynth")
DEFAULT_ARTIFACTS_DIR = Path("artifacts")
DEFAULT_SEED = 42

# The thesis's two experiments (lines 452-454): the imbalanced 1,217-image collection of Table
# 4.1, and a balanced one of 1,600 images, 200 per class. "imbalanced" is the default
# everywhere: notebooks 01-07 and 09 use it, notebook 08 evaluates both.
EXPERIMENTS: tuple[str, ...] = ("imbalanced", "balanced")


class JewelNetError(Exception):
    """A problem the user can fix. The CLI prints its message as one line and exits 2."""


def normalise_class_name(name: str) -> str:
    """Map a folder name onto its class key: 'Nose Pins', 'nose-pin' and 'NOSEPIN' become
    'nose_pin', 'EARRINGS' and 'Ear Rings' become 'earring'. A name that is not a thesis
    class, singular or plural, is kept as its own class ('Anklets' -> 'anklets')."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    key = re.sub(r"_+", "_", key).strip("_")
    squashed = key.replace("_", "")
    for cls in CLASSES:  # shop folders are often plural and spaced freely
        if squashed in (cls.replace("_", ""), cls.replace("_", "") + "s"):
            return cls
    return key


def class_sort_key(name: str) -> tuple[int, str]:
    """Thesis classes first in their fixed order; any other class after them, alphabetically."""
    return (CLASSES.index(name), name) if name in CLASSES else (len(CLASSES), name)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture constants of one model, from thesis sections 4.3-4.5 and Table B.1."""

    name: str
    input_size: int  # paper input size (Table 4.4)
    dense_units: tuple[int, int] = (512, 256)
    dropout: tuple[float, float] = (0.3, 0.3)  # (FC1, FC2), Table B.1
    l2: float = 0.0  # Table B.1 "L2 Regularization"
    trainable_tail: int | None = None  # layers of the backbone unfrozen in stage 2
    two_stage: bool = True


def _spec_from_table_b1(name: str) -> ModelSpec:
    """One model's spec from Table B.1. Its "Frozen Layers" counts (Last 8 / Last 50) are read
    as the backbone layers fine-tuned in stage 2, as sections 4.4.1-4.5 describe them (the
    reading and its alternatives are in protocol.py). The custom CNN trains in one stage from
    scratch (section 4.3)."""
    col = {key: TABLE_B_1.value(key)[name] for key in TABLE_B_1}
    return ModelSpec(name, col["input_size"], dropout=(col["dropout_fc1"], col["dropout_fc2"]),
                     l2=col["l2"], trainable_tail=col["frozen_layers"],
                     two_stage=col["frozen_layers"] is not None)


MODEL_SPECS: dict[str, ModelSpec] = {name: _spec_from_table_b1(name) for name in MODELS}


@dataclass(frozen=True)
class Augmentation:
    """Table 4.2 ranges. Where the table gives a range of ranges (rotation, shear, zoom) we
    take its lower bound; protocol.py records the reading."""

    rotation_deg: float = TABLE_4_2.value("rotation_deg")[0]
    width_shift: float = TABLE_4_2.value("width_shift")
    height_shift: float = TABLE_4_2.value("height_shift")
    shear: float = TABLE_4_2.value("shear")[0]  # a coefficient (tan of the angle)
    zoom: float = TABLE_4_2.value("zoom")[0]
    horizontal_flip: bool = TABLE_4_2.value("horizontal_flip")
    brightness: tuple[float, float] = TABLE_4_2.value("brightness")
    channel_shift: float = TABLE_4_2.value("channel_shift")  # of the full intensity range
    fill_mode: str = TABLE_4_2.value("fill_mode")

    def scaled(self, strength: float) -> Augmentation:
        """The same transforms with every range multiplied by ``strength`` (0 disables)."""
        lo, hi = self.brightness
        return dataclasses.replace(
            self,
            rotation_deg=self.rotation_deg * strength,
            width_shift=self.width_shift * strength,
            height_shift=self.height_shift * strength,
            shear=self.shear * strength,
            zoom=self.zoom * strength,
            horizontal_flip=self.horizontal_flip and strength > 0,
            brightness=(1 - (1 - lo) * strength, 1 + (hi - 1) * strength),
            channel_shift=self.channel_shift * strength,
        )


@dataclass(frozen=True)
class Profile:
    """One way of running the whole book: sizes, budgets and defaults. Pure data."""

    name: str
    description: str
    input_sizes: dict[str, int]
    batch_size: int = TABLE_4_4.value("batch_size")
    learning_rate: float = TABLE_4_4.value("learning_rate")
    lr_decay: float = TABLE_4_4.value("lr_decay")  # per update (Keras 2 ``decay``)
    # Stage 2 of the transfer models. The thesis asks for "a smaller learning rate" there
    # (section 4.4.1) with no value, while Tables 4.4 and B.1 give 1e-4 for everything; the
    # paper and cpu profiles take the tables' value, the default (smoke) a tenth of it.
    fine_tune_lr: float = 1e-5
    max_epochs: int = TABLE_4_4.value("max_epochs")  # the custom CNN's single stage
    # Transfer models: the thesis's 50 epochs split between head-only training and
    # fine-tuning (the thesis gives no split; ours).
    stage1_epochs: int = 20
    stage2_epochs: int = 30
    # Stage-2 epochs per model, where the profile gives a model more (or fewer) than
    # ``stage2_epochs``.
    stage2_epochs_per_model: dict[str, int] = field(default_factory=dict)
    # Backbone layers unfrozen in stage 2, per model, where the profile departs from Table B.1
    # (``MODEL_SPECS``); a number at least the backbone's layer count fine-tunes all of it.
    trainable_tails: dict[str, int] = field(default_factory=dict)
    early_stop_patience: int = TABLE_4_4.value("early_stop_patience")
    reduce_lr_patience: int = TABLE_4_4.value("reduce_lr_patience")
    reduce_lr_factor: float = TABLE_4_4.value("reduce_lr_factor")
    augmentation: Augmentation = field(default_factory=Augmentation)
    # Augmented views per image for cached stage-1 features of the transfer models; 0 trains
    # stage 1 through the frozen backbone on fresh augmentation every epoch (section 4.2.3).
    feature_cache_views: int = 0
    # Augmented passes over the training images per epoch (1: one pass of the 851 originals).
    epoch_repeats: int = 1
    max_train_per_class: int | None = None  # None: the whole training split
    # Keras ``run_eagerly``: skip graph tracing, which dominates runs of a few tiny batches
    # (tests); slower for real runs.
    run_eagerly: bool = False
    default_weights: str | None = "imagenet"
    # Meant for a GPU/TPU: `jewelnet preflight` stops without one unless PAPER_ON_CPU=1.
    needs_accelerator: bool = False
    seeds: tuple[int, ...] = (DEFAULT_SEED,)
    synth_counts: str = "thesis"  # argument of ``jewelnet synth --counts``
    balanced_counts: str = "balanced"  # the same for the balanced experiment
    synth_size: int = 256
    synth_difficulty: str = "thesis"
    tuner: dict[str, Any] = field(default_factory=dict)
    # Overrides of ``pretrain.Recipe`` (images, epochs, batch_size, learning_rate, ...;
    # ``input_sizes`` per backbone, else the model's input size) for ``jewelnet pretrain``.
    pretext: dict[str, Any] = field(default_factory=dict)

    def input_size(self, model: str) -> int:
        """Input side length for ``model`` under this profile."""
        check_model(model)
        return self.input_sizes[model]

    def trainable_tail(self, model: str) -> int | None:
        """Backbone layers ``model`` unfreezes in stage 2 under this profile (None: one stage)."""
        return self.trainable_tails.get(check_model(model), MODEL_SPECS[model].trainable_tail)

    def stage2_epochs_for(self, model: str) -> int:
        """The most fine-tuning epochs ``model`` gets under this profile (0: one stage)."""
        if not MODEL_SPECS[check_model(model)].two_stage:
            return 0
        return self.stage2_epochs_per_model.get(model, self.stage2_epochs)

    def counts_for(self, experiment: str) -> str:
        """The ``jewelnet synth --counts`` value of ``experiment`` under this profile."""
        check_experiment(experiment)
        return self.balanced_counts if experiment == "balanced" else self.synth_counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view, recorded in every run's config."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


PAPER_SIZES = {m: s.input_size for m, s in MODEL_SPECS.items()}

PROFILES: dict[str, Profile] = {
    "paper": Profile(
        name="paper",
        description="The thesis protocol (Tables 4.1-4.4, B.1), with the readings in the "
                    "appendix 'Protocol: thesis and ours'. Meant for a GPU.",
        input_sizes=PAPER_SIZES,
        # An epoch is Table 4.1's augmented training set: 8,519 images, ten fresh augmented
        # views of each of the 851 originals, drawn on the fly (section 4.2.3), never cached.
        epoch_repeats=augmented_passes(),
        feature_cache_views=0,
        # Tables 4.4 and B.1 give one learning rate for every model and stage.
        fine_tune_lr=TABLE_4_4.value("learning_rate"),
        default_weights="imagenet",
        needs_accelerator=True,
        # One full Hyperband iteration: 90 trials, 576 epochs in all (brackets of 2-30 epochs).
        tuner={"algorithm": "hyperband", "max_epochs": 30, "max_trials": 90, "factor": 3,
               "patience": 5},
    ),
    "cpu": Profile(
        name="cpu",
        description="A laptop CPU: smaller inputs and budgets, meaningful results within an hour.",
        # The Custom CNN settings (112 px, 30 epochs of two augmented passes, half the Table
        # 4.2 ranges) are fixed: JewelSynth's difficulty is calibrated against them
        # (jewelnet_utils/tools/synth_calibration.json). Two passes per epoch stand in for the
        # thesis's augmented training set (8,519 images, ~10 per original, Table 4.1): with one
        # pass the validation accuracy swings by +-5 points between epochs and early stopping
        # ends the run before it converges. The transfer models' sizes are set for time.
        input_sizes={"custom_cnn": 112, "vgg16": 64, "resnet50": 96, "efficientnetb2": 112},
        augmentation=Augmentation().scaled(0.5),
        max_epochs=30,
        epoch_repeats=2,  # every model: two passes per epoch, as for the custom CNN
        # Stage 1 trains the head on cached features, so its epochs cost well under a second
        # each: 40 let the head converge (after 10 the validation accuracy was still rising).
        # Stage 2 is where the time goes; 4 epochs at the tables' rate (results/
        # transfer-recipe-2026-11-28.json compares these settings).
        stage1_epochs=40,
        stage2_epochs=4,
        fine_tune_lr=TABLE_4_4.value("learning_rate"),
        # EfficientNetB2 fine-tunes its whole backbone (339 layers in Keras), not Table B.1's
        # last 50: our figure backbone's top blocks know figures, not jewelry, and with only
        # the last 50 free the classifier stayed far behind the other two transfer models
        # (results/effnet-fine-tune-depth-2026-11-28.json).
        trainable_tails={"efficientnetb2": EFFICIENTNETB2_BACKBONE_LAYERS},
        # A whole backbone has more to fit than a tail: after 4 epochs its validation
        # accuracy was still climbing steeply, so it gets twice the others' fine-tuning
        # (results/effnet-fine-tune-depth-2026-11-28.json compares 4 and 8).
        stage2_epochs_per_model={"efficientnetb2": 8},
        # One cached view: in results/feature-cache-views.json (VGG16, this profile) 1, 2 and 4
        # views and the uncached stage 1 end within 2 test points of each other, from random
        # init and from a pretrained stand-in backbone; one view is the cheapest.
        feature_cache_views=1,
        # ImageNet weights cannot be downloaded everywhere, so the transfer models start from
        # our own backbones (`jewelnet pretrain`, cached per machine): trained to name
        # JewelSynth's non-jewelry figures, their texture and metal, never a jewelry class.
        default_weights="pretext",
        # pretrain.Recipe for each backbone. The inputs are smaller than the profile trains at
        # (conv weights do not depend on the size) so that each fits the 20-minute budget;
        # the deeper backbones with batch normalisation take a tenfold learning rate.
        # EfficientNetB2 pretrains without stochastic depth and in batches of 32: with either
        # default its figure accuracy was still near the start of its rise when the budget
        # ended (results/pretrain-effnet-sweep-2026-11-28.json).
        pretext={"source": "shapes", "heads": ["shape", "texture", "metal"], "images": 4800,
                 "per_model": {
                     "vgg16": {"input_size": 48, "epochs": 12},
                     "resnet50": {"input_size": 64, "epochs": 10, "learning_rate": 1e-3},
                     "efficientnetb2": {"input_size": 64, "epochs": 20, "learning_rate": 3e-3,
                                        "batch_size": 32, "stochastic_depth": False},
                 }},
        # One full Hyperband iteration: 10 trials, 36 epochs (5 x 2, the best 2 on to 6, then
        # 3 x 6): the smallest search that still promotes trials between brackets, sized so
        # the tuning notebook stays a few minutes of the cpu book (its measured time is in
        # the notebook's Prerequisites).
        tuner={"algorithm": "hyperband", "max_epochs": 6, "max_trials": 10, "factor": 3,
               "patience": 3},
    ),
    "smoke": Profile(
        name="smoke",
        description="CI: every code path once, in minutes; the numbers mean little.",
        input_sizes={"custom_cnn": 64, "vgg16": 48, "resnet50": 64, "efficientnetb2": 64},
        batch_size=16,
        max_epochs=2,
        stage1_epochs=1,
        stage2_epochs=1,
        feature_cache_views=1,  # cheaper than the frozen backbone, which is all smoke checks
        max_train_per_class=8,
        default_weights=None,
        synth_counts="24",
        # Tiny, so CI passes through the balanced experiment's code once.
        balanced_counts="16",
        synth_size=128,
        pretext={"source": "shapes", "heads": ["shape", "texture", "metal"], "images": 68,
                 "epochs": 1, "batch_size": 16},
        # Two Hyperband iterations of a one-epoch bracket: two trials of one epoch.
        tuner={"algorithm": "hyperband", "max_epochs": 1, "max_trials": 2, "factor": 3,
               "hyperband_iterations": 2},
    ),
}


def check_model(name: str) -> str:
    """Return ``name`` if it is a known architecture, else raise a clear error."""
    if name not in MODEL_SPECS:
        raise JewelNetError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def check_experiment(name: str) -> str:
    """Return ``name`` if it is one of the thesis's two experiments, else raise a clear error."""
    if name not in EXPERIMENTS:
        raise JewelNetError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return name


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name`` (default: $PROFILE, else ``cpu``), or a clear error."""
    name = name or os.environ.get("PROFILE") or "cpu"
    if name not in PROFILES:
        raise JewelNetError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def run_name(model: str, profile: str, seed: int) -> str:
    """Folder name of one training run under the artifacts directory."""
    return f"{model}-{profile}-s{seed}"
