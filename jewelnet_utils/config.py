"""Configuration as data: the eight classes, the four architectures and the run profiles.

Every number the thesis fixes (Tables 4.2-4.4 and B.1) is written here once, in the ``paper``
profile and the model specs. The ``cpu`` and ``smoke`` profiles are copies with smaller sizes,
never copies of code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

DEFAULT_DATA_DIR = Path("data/jewelsynth")
DEFAULT_ARTIFACTS_DIR = Path("artifacts")
DEFAULT_SEED = 42


class JewelNetError(Exception):
    """A problem the user can fix. The CLI prints its message as one line and exits 2."""


def normalise_class_name(name: str) -> str:
    """Map a folder name such as 'Nose Pin' or 'nose-pin' onto the key 'nose_pin'."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    key = re.sub(r"_+", "_", key).strip("_")
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


MODEL_SPECS: dict[str, ModelSpec] = {
    # Table 4.3 / B.1: trained from scratch, L2 0.01 on all layers, one stage.
    "custom_cnn": ModelSpec("custom_cnn", 224, dropout=(0.5, 0.3), l2=0.01, two_stage=False),
    # Section 4.4.1 and B.1: the last 8 layers of the backbone are fine-tuned in stage 2.
    "vgg16": ModelSpec("vgg16", 224, dropout=(0.3, 0.3), trainable_tail=8),
    # Section 4.4.2: "all layers except the final 50 were frozen". B.1 writes "Last 50" under
    # "Frozen Layers", which contradicts the text; we read it as the 50 trainable layers.
    "resnet50": ModelSpec("resnet50", 224, dropout=(0.3, 0.3), trainable_tail=50),
    # Section 4.5 and Listing C.1: L2 0.01 on the Dense(512) only, Dropout 0.5 then 0.3, 260 px.
    "efficientnetb2": ModelSpec(
        "efficientnetb2", 260, dropout=(0.5, 0.3), l2=0.01, trainable_tail=50
    ),
}


@dataclass(frozen=True)
class Augmentation:
    """Table 4.2 ranges. Where the table gives a range of ranges we take its lower bound."""

    rotation_deg: float = 20.0  # Table 4.2: +-20 to +-25 degrees
    width_shift: float = 0.2
    height_shift: float = 0.2
    shear: float = 0.15  # Table 4.2: +-0.15 to +-0.2
    zoom: float = 0.2  # Table 4.2: +-20% to +-30%
    horizontal_flip: bool = True
    brightness: tuple[float, float] = (0.8, 1.2)
    channel_shift: float = 0.1  # fraction of the full intensity range
    fill_mode: str = "nearest"

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
    batch_size: int = 32
    learning_rate: float = 1e-4  # Table 4.4
    lr_decay: float = 1e-6  # Table 4.4, per update (Keras 2 ``decay``)
    fine_tune_lr: float = 1e-5  # "a smaller learning rate" (4.4.1); the value is ours
    max_epochs: int = 50  # Table 4.4, the custom CNN's single stage
    stage1_epochs: int = 20  # transfer models: head only (the thesis gives no split of the 50)
    stage2_epochs: int = 30  # transfer models: fine-tuning
    early_stop_patience: int = 10
    reduce_lr_patience: int = 5
    reduce_lr_factor: float = 0.5
    augmentation: Augmentation = field(default_factory=Augmentation)
    feature_cache_views: int = 10  # augmented views per image for cached stage-1 features
    # Augmented passes over the training images per epoch. Table 4.1's "augmented training
    # dataset" holds 8,519 images (~10 per original), so a thesis epoch may have been 10 passes.
    epoch_repeats: int = 1
    max_train_per_class: int | None = None  # None: the whole training split
    # Keras ``run_eagerly``: skip graph tracing, which dominates runs of a few tiny batches
    # (tests); slower for real runs.
    run_eagerly: bool = False
    default_weights: str | None = "imagenet"
    seeds: tuple[int, ...] = (DEFAULT_SEED,)
    synth_counts: str = "thesis"  # argument of ``jewelnet synth --counts``
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view, recorded in every run's config."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


PAPER_SIZES = {m: s.input_size for m, s in MODEL_SPECS.items()}

PROFILES: dict[str, Profile] = {
    "paper": Profile(
        name="paper",
        description="The thesis protocol exactly (Tables 4.2-4.4, B.1). Meant for a GPU.",
        input_sizes=PAPER_SIZES,
        default_weights="imagenet",
        # One full Hyperband iteration: 90 trials, 576 epochs in all (brackets of 2-30 epochs).
        tuner={"algorithm": "hyperband", "max_epochs": 30, "max_trials": 90, "factor": 3,
               "patience": 5},
    ),
    "cpu": Profile(
        name="cpu",
        description="A laptop CPU: smaller inputs and budgets, meaningful results within an hour.",
        # The Custom CNN settings (112 px, 30 epochs of two augmented passes, half the Table
        # 4.2 ranges) are fixed: JewelSynth's difficulty is calibrated against them
        # (jewelnet_utils/synth_calibration.json). Two passes per epoch stand in for the
        # thesis's augmented training set (8,519 images, ~10 per original, Table 4.1): with one
        # pass the validation accuracy swings by +-5 points between epochs and early stopping
        # ends the run before it converges. The transfer models' sizes are set for time.
        input_sizes={"custom_cnn": 112, "vgg16": 64, "resnet50": 96, "efficientnetb2": 112},
        augmentation=Augmentation().scaled(0.5),
        max_epochs=30,
        epoch_repeats=2,  # every model: the transfer stages below are halved to match
        stage1_epochs=10,
        stage2_epochs=2,
        # One cached view: in results/feature-cache-views.json (VGG16, this profile) 1, 2 and 4
        # views and the uncached stage 1 end within 2 test points of each other, from random
        # init and from a pretrained stand-in backbone; one view is the cheapest.
        feature_cache_views=1,
        default_weights=None,
        # `jewelnet pretrain` (pretrain.Recipe): 4,800 unlabelled images, six epochs. ResNet50
        # and EfficientNetB2 pretrain at 64 px (conv weights do not depend on the size) to fit
        # the 20-minute budget; VGG16 at its own 64 px.
        pretext={"images": 4800, "epochs": 6,
                 "input_sizes": {"resnet50": 64, "efficientnetb2": 64}},
        # One full Hyperband iteration: 10 trials, 36 epochs (5 x 2, the best 2 on to 6, then
        # 3 x 6). Custom CNN on the thesis-count JewelSynth set: 20.3 min wall on 2 cores
        # shared with other jobs (load ~8); about 10 CPU-minutes, so well under 20 min alone.
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
        feature_cache_views=1,
        max_train_per_class=8,
        default_weights=None,
        synth_counts="24",
        synth_size=128,
        pretext={"images": 64, "epochs": 1, "batch_size": 16},
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


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name`` (default: $PROFILE, else ``cpu``), or a clear error."""
    name = name or os.environ.get("PROFILE") or "cpu"
    if name not in PROFILES:
        raise JewelNetError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def run_name(model: str, profile: str, seed: int) -> str:
    """Folder name of one training run under the artifacts directory."""
    return f"{model}-{profile}-s{seed}"
