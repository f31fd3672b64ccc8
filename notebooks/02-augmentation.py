# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Augmentation, one transform at a time
#
# ## Overview
#
# The thesis enlarges its small training set with random transformations (its Table 4.2).
# In this notebook you will learn
#
# - what each of the Table 4.2 transforms does on its own, applied to the same image;
# - what a whole augmented training batch looks like when all of them act together;
# - which ranges the current profile uses (the `paper` profile uses the thesis's).
#
# Augmentation runs on the fly while training, so no augmented copies are stored on disk.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Augmentation*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split manifest)
# - **Time to run:** `smoke` 8 s · `cpu` 7 s · `paper` not measured yet
#   (measured on 2 CPU cores, written by `scripts/sync_run_times.py`)

# %% [markdown]
# ## Running on Colab or Kaggle
#
# The next cell (click to show it) acts only on Google Colab, Kaggle or Binder: it clones the
# repository where needed, installs the `jewelnet_utils` package and reports whether a GPU is
# attached. On a local checkout it does nothing. To use real photos, set `DATA_DIR` in the
# parameters cell to a folder with one sub-folder per class; for ImageNet weights set
# `WEIGHTS = "imagenet"` (Keras keeps them in `~/.keras/models/`) or give the path of a weights
# file. The chapter [Re-running on Colab or Kaggle](../book/colab-kaggle.md) walks through
# both.

# %% tags=["hide-input"]
# Colab / Kaggle / Binder only (inert on a local checkout): get the repository, install
# jewelnet_utils WITHOUT touching the runtime's TensorFlow, Keras or NumPy, then install only
# the missing packages, check versions and report the GPU (jewelnet_utils/hosted.py).
import os
import subprocess
import sys

REPO_URL = "https://github.com/jewelnet/jewelnet-book"  # written from _config.yml
ON_KAGGLE = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
ON_BINDER = "BINDER_SERVICE_HOST" in os.environ
if "google.colab" in sys.modules or ON_KAGGLE or ON_BINDER:
    home = "/kaggle/working" if ON_KAGGLE else "/content"
    checkout = os.path.abspath("..") if ON_BINDER else os.path.join(home, "jewelnet-book")
    if not os.path.isdir(checkout):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, checkout], check=True)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", checkout]
    subprocess.run(pip, check=True)
    sys.path.insert(0, checkout)  # importable without a restart
    from jewelnet_utils.hosted import prepare_runtime

    prepare_runtime(checkout)

# %% [markdown]
# ## Imports

# %%
import dataclasses
import os

import numpy as np
import pandas as pd
from IPython.display import display

from jewelnet_utils.book import check_params, show_figure
from jewelnet_utils.contracts.config import PROFILES
from jewelnet_utils.report import plots
from jewelnet_utils.split import augment, pipeline, splitting

# %% [markdown]
# ## Parameters
#
# papermill overrides this cell (`-p PROFILE smoke`, `-p DATA_DIR /path/to/photos`, ...).
# Relative paths are resolved against the repository root, whatever the working directory.

# %% tags=["parameters"]
PROFILE = os.environ.get("PROFILE", "cpu")  # smoke | cpu | paper
DATA_DIR = None  # None: the profile's synthetic JewelSynth set, generated if missing
WEIGHTS = "profile"  # "profile" (the profile's default), "imagenet", "none" or a file path
SEED = 42
ARTIFACTS = "artifacts"  # runs, splits and tuning results go here

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
print(P.provenance())

# %% [markdown]
# ## The ranges in use
#
# Table 4.2 of the thesis gives some ranges as a range of ranges (rotation "±20° to ±25°").
# The `paper` profile reads each at its lower end; the smaller profiles scale every range down,
# so that short training runs still converge. The first column is the thesis reading, the
# second what this build uses (the appendix "Protocol: thesis and ours" explains each choice).

# %%
aug = P.settings.augmentation
ranges = pd.DataFrame({
    "Table 4.2, lower end (paper profile)": dataclasses.asdict(PROFILES["paper"].augmentation),
    f"this build ({P.profile} profile)": dataclasses.asdict(aug),
})
display(ranges.astype(str))
print(P.provenance("the augmentation settings"))

# %% [markdown]
# ## One training image
#
# Two training images per class, resized to 160 pixels so that the effects are easy to see
# (the transforms do not depend on the size).

# %%
manifest = splitting.ensure_split(P.dataset(), P.split_path(), seed=P.seed)
size = 160
train = pipeline.load_split_arrays(manifest, "train", size, data_dir=P.dataset(), max_per_class=2,
                               seed=P.seed)
image = train.images[0]
print(f"{len(train)} training images loaded at {size}x{size}; "
      f"the example is a {train.classes[train.labels[0]]}")

# %% [markdown]
# ## Each transform on its own
#
# Every row switches on a single transform (all others off) and draws four random versions of
# the same image. The *fill mode* of Table 4.2 has no row of its own: it decides how the
# pixels uncovered by a rotation, shift, shear or zoom are filled, which is visible at the
# borders in those rows.

# %%
off = aug.scaled(0)  # every range set to zero: an identity pipeline
single = {
    "rotation": dataclasses.replace(off, rotation_deg=aug.rotation_deg),
    "width shift": dataclasses.replace(off, width_shift=aug.width_shift),
    "height shift": dataclasses.replace(off, height_shift=aug.height_shift),
    "shear": dataclasses.replace(off, shear=aug.shear),
    "zoom": dataclasses.replace(off, zoom=aug.zoom),
    "horizontal flip": dataclasses.replace(off, horizontal_flip=aug.horizontal_flip),
    "brightness": dataclasses.replace(off, brightness=aug.brightness),
    "channel shift": dataclasses.replace(off, channel_shift=aug.channel_shift),
}
batch = np.repeat(image[None].astype("float32"), 4, axis=0)
tiles, titles = [], []
for name, settings in single.items():
    layer = augment.build_augmenter(settings, seed=P.seed)
    out = np.asarray(layer(batch, training=True))
    tiles += [image, *out]
    titles += [f"{name}: original", *(f"{name} #{i + 1}" for i in range(len(out)))]
show_figure(plots.image_grid(tiles, titles, ncols=5, title="Table 4.2, one transform at a time",
                             caption=P.provenance()))
print(P.provenance("the single-transform figure"))

# %% [markdown]
# ## A whole augmented batch
#
# All transforms together, as a network sees its training images: the top row shows the
# originals, the rows below two random augmentations of each.

# %%
originals = train.images[:8].astype("float32")
full = augment.build_augmenter(aug, seed=P.seed)
views = [np.asarray(full(originals, training=True)) for _ in range(2)]
tiles = [*originals, *views[0], *views[1]]
titles = ([train.classes[k] for k in train.labels[:8]]
          + [f"augmented {k + 1}" for k in range(8)] * 2)
show_figure(plots.image_grid(tiles, titles, ncols=8, title="Augmented training batch",
                             caption=P.provenance()))
print(P.provenance("the augmented batch"))

# %% [markdown]
# ## Summary
#
# - Each transform of Table 4.2 is a separate, seeded Keras layer; together they form one
#   augmentation pipeline applied to training batches only.
# - Validation and test images are never augmented.
# - The thesis counts ten augmented copies per training image in its Table 4.1; here every
#   epoch draws fresh random versions instead, and the transfer models' first stage caches a
#   fixed number of augmented views per image (see the appendix on hyperparameters).
#
# ## What's next
#
# [Notebook 03](03-custom-cnn.ipynb) trains the first model, the custom CNN of Table 4.3.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - Keras's random image layers: [preprocessing layers
#   guide](https://keras.io/guides/preprocessing_layers/).
# - Input pipelines that keep the processor busy: [tf.data
#   guide](https://www.tensorflow.org/guide/data).
# - Every work the book cites, in full: [References](../book/references.md).
