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
# # 03 · The custom CNN
#
# ## Overview
#
# In this notebook you will learn
#
# - how the custom CNN of the thesis's Table 4.3 is put together, read from the function that
#   builds it, and how many parameters it really has, next to the "≈5M" the thesis gives in
#   its Table 6.2;
# - how it is compiled and trained from scratch in a single stage under the shared protocol of
#   Table 4.4, one step per cell, in the same calls that `jewelnet train` makes;
# - how its training and validation curves behave.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Four networks*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); [02 ·
#   Augmentation](02-augmentation.ipynb) is useful background
# - **Time to run:** `smoke` 10 s · `cpu` 5 min · `paper` not measured yet
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
import os

import pandas as pd
from IPython.display import display

from jewelnet_utils.book import check_params, model_title, show_figure, show_source
from jewelnet_utils.contracts import artifacts
from jewelnet_utils.report import evaluate, plots
from jewelnet_utils.run import models, train

MODEL = "custom_cnn"

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
RETRAIN = False  # True: train again even if a finished run with these settings exists

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
print(P.provenance())

# %% [markdown]
# ## What the thesis specifies
#
# Table 4.3 of the thesis describes four convolutional blocks. Each block is a 3×3
# convolution followed by batch normalisation and 2×2 max-pooling; the number of filters
# doubles from block to block (32, 64, 128, 256). The printed output shapes (111, 54, 26 and 12
# pixels for a 224-pixel input) only work out if the convolutions use no padding, which is
# how we build them. The feature map is then flattened into a dense layer of 512 units
# (dropout 0.5), a dense layer of 256 units (dropout 0.3) and an eight-way softmax. The thesis
# applies L2 regularisation of 0.01 to all layers and trains the network from random
# initialisation, in one stage.
#
# One consequence is worth seeing before training: flattening a 12×12×256 feature map into 512
# units is by far the largest part of the network. The parameter table below makes this
# concrete, and [notebook 10](10-thesis-audit.ipynb) follows it up.
#
# The custom CNN never uses pre-trained weights, whatever `WEIGHTS` says: the thesis trains it
# from scratch.

# %% [markdown]
# ## Opening the run
#
# From here on the page trains the network in the same steps that `jewelnet train` runs one
# after another: `train.train_model` is nothing but these calls in this order, so the command
# line and this page cannot drift apart. The first step, `open_run`, checks every input before
# anything is written (the split manifest must describe the image folder, the weights must
# exist), decodes the split's images and opens the run folder under `ARTIFACTS`. If a finished
# run with these settings is already there, it comes back marked complete, and every step
# below reads what that run recorded instead of training again; an interrupted run continues
# from its last checkpoint; `RETRAIN = True` starts from scratch.

# %%
run = P.open_run(MODEL, retrain=RETRAIN)
state = ("finished earlier: reopened, nothing will be trained" if run.complete
         else "continues from its last checkpoint" if run.resumed else "new")
print(f"Run folder: {P.rel(run.run_dir)} ({state})")

# %% [markdown]
# ## Building the network
#
# The function below is the builder itself, read from the package's source, so what you see
# is what runs. Four blocks of convolution, batch normalisation, ReLU and pooling turn the
# image into a 256-channel feature map; `Flatten` lays that map out as one long vector, and
# two dense layers with dropout lead to the softmax. Every layer carries the same L2 penalty.
# The first layer divides the pixel values by 255, so images enter the network as they are
# stored, RGB values from 0 to 255.

# %%
show_source(models.custom_cnn)
print("Source: jewelnet_utils/run/models.py, custom_cnn")

# %% [markdown]
# `run.build_model()` calls `models.build_model`, which fills in the Table 4.3 settings (a
# run given tuned `hparams` from notebook 07 uses those instead), checks the input size and
# calls the function above. It fixes the random seed first, so every run with this `SEED`
# starts from the same weights. The custom CNN never uses pre-trained weights, whatever
# `WEIGHTS` says: the thesis trains it from scratch.

# %%
model = run.build_model()
size = run.cfg["input_size"]
model.summary(line_length=74, expand_nested=False)

# %% [markdown]
# The same network drawn from its layers, input at the top.

# %%
show_figure(plots.layer_stack(models.layer_summary(model), caption=P.provenance(),
                              title=f"{model_title(MODEL)} at {size} px"))
print(P.provenance("the layer diagram"))

# %% [markdown]
# ## Parameters against the thesis
#
# Our count at the profile's input size, our count at the thesis's input size, and the
# approximate figure from the thesis's Table 6.2. Nothing is frozen in a network trained from
# scratch: the non-trainable parameters are batch normalisation's running statistics, which
# are averaged during training rather than learned.

# %%
thesis_size = models.THESIS_CLAIMS[MODEL]["input_size"]
at_thesis = models.build_model(MODEL, input_size=thesis_size, weights=None)
params = pd.DataFrame({
    f"ours, {size} px": models.count_params(model),
    f"ours, {thesis_size} px": models.count_params(at_thesis),
}).T
params.loc["thesis, Table 6.2 (approximate)"] = [models.THESIS_CLAIMS[MODEL]["params"], None, None]
display(params.astype("Int64").astype("string").fillna("—"))
print(P.provenance(f"the {model_title(MODEL)} parameter counts", input_size=size))
del at_thesis

# %% [markdown]
# ## Compiling
#
# Compiling attaches the optimizer, the loss and the metric to the model. All four networks
# use the same function: Adam, categorical cross-entropy on one-hot labels, and accuracy.

# %%
show_source(train.compile_model)
print("Source: jewelnet_utils/run/train.py, compile_model")

# %% [markdown]
# The thesis's Keras 2 optimizer also had `decay=1e-6`, which divides the rate by
# (1 + decay × updates). Keras 3's Adam has no such argument, and `ReduceLROnPlateau` cannot
# change a learning-rate schedule, so one callback of ours, `train.ThesisProtocol`, owns the
# rate while a stage is fitted: before every update it sets the stage's rate, divided by the
# decay term and multiplied by the plateau factor, which halves whenever the validation loss
# has stopped falling for a few epochs (five in the thesis). The same callback ends a stage
# once the validation accuracy has stopped rising for longer (ten epochs in the thesis), and
# keeps the best epoch's weights. The values this run uses:

# %%
display(pd.Series(run.settings(), name="value", dtype=object).to_frame())
print(P.provenance(f"the {model_title(MODEL)} training settings"))

# %%
train.compile_model(model, run.learning_rate(1), run_eagerly=run.profile.run_eagerly)

# %% [markdown]
# ## Training in one stage
#
# The custom CNN has nothing pre-trained to protect, so every layer learns from the first
# epoch, for at most `max_epochs` epochs of the profile. `fit_stage` calls Keras's `fit` once
# per epoch with the callback described above. Before each epoch it re-seeds every random
# draw (the order of the images, their augmentation, dropout) from the run's seed and the
# epoch's number, and after it saves a checkpoint; so a run that is stopped and resumed ends
# exactly where an uninterrupted one would. Each training image is augmented afresh in every
# epoch, with the ranges of Table 4.2 ([notebook 02](02-augmentation.ipynb)), and each class
# is weighted by the inverse of its share of the training images. The epoch log is folded
# away in the book (click to show it).

# %% tags=["hide-output"]
stage1 = run.fit_stage(1, model)

# %%
display(evaluate.epoch_table(stage1))
print(P.provenance(f"the {model_title(MODEL)} epochs"))

# %% [markdown]
# ## Finishing the run
#
# `finish` puts the best epoch's weights back into the model (the one with the highest
# validation accuracy, over all stages), predicts the validation and test images with it and
# writes the rest of the run folder: `model.keras`, the predictions, `metrics.json`,
# `timings.json`, and last `config.json` marked complete. The table sums up each stage.

# %%
run_dir = run.finish(model)
record = evaluate.load_run(run_dir)
print(f"Run folder: {P.rel(run_dir)}")
display(evaluate.training_summary(record))
print(P.provenance(f"the {model_title(MODEL)} training stages"))

# %% [markdown]
# ## Learning curves
#
# Loss and accuracy per epoch on the training and validation sets.

# %%
show_figure(plots.training_curves({record.name: record.history},
                                  caption=P.provenance(), title=model_title(MODEL)))
print(P.provenance(f"the {model_title(MODEL)} learning curves"))

# %% [markdown]
# ## A first look at the results
#
# Validation and test accuracy as recorded by the run. These are single numbers without
# uncertainty; [notebook 08](08-evaluation.ipynb) adds confidence intervals, per-class tables
# and paired comparisons between the models.

# %%
metrics = artifacts.read_metrics(run_dir).as_dict()
display(pd.Series(metrics, name="value", dtype=object).to_frame())
print(P.provenance(f"the {model_title(MODEL)} accuracies"))

# %% [markdown]
# ## Summary
#
# - The network is built by `models.custom_cnn`, shown above, from the configuration in
#   `jewelnet_utils/contracts/config.py`; its parameter count is measured, and the thesis's
#   approximate figure is shown beside it.
# - Training is four calls: build, compile, one `fit_stage`, `finish`; `jewelnet train` makes
#   the same calls.
# - The run folder written here holds everything the evaluation needs, including the
#   predictions on the validation and test sets.
# - Under the `smoke` profile the numbers only show that the code runs; under `cpu` they show
#   how the architecture, trained from scratch as the thesis trains it, behaves on JewelSynth (see
#   [what can and cannot be compared](../book/comparability.md)).
#
# ## What's next
#
# [Notebook 04](04-vgg16.ipynb) replaces the hand-designed feature extractor with VGG16, the
# first of the three pre-trained backbones.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - Building models layer by layer in Keras: [the functional API
#   guide](https://keras.io/guides/functional_api/).
# - A small network trained from scratch, step by step: [image classification from
#   scratch](https://keras.io/examples/vision/image_classification_from_scratch/).
# - A. Krizhevsky, I. Sutskever and G. E. Hinton, ImageNet classification with deep convolutional
#   neural networks, NeurIPS 2012.
# - Every work the book cites, in full: [References](../book/references.md).
