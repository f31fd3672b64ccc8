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
# # 04 · VGG16 with a new head
#
# ## Overview
#
# In this notebook you will learn
#
# - how the VGG16 backbone is combined with the thesis's new classification head;
# - how many parameters the network has as trained, compared with the "≈138M" of the
#   thesis's Table 6.2 (which counts VGG16's original ImageNet classifier layers);
# - how the two training stages work: first the head alone on a frozen backbone, then the last
#   eight backbone layers fine-tuned with a smaller learning rate;
# - why stage one can run on cached backbone features, and how few cached views it needs.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Four networks*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); [03 · The
#   custom CNN](03-custom-cnn.ipynb) is useful background
# - **Time to run:** `smoke` 30 s · `cpu` 1 min · `paper` not measured yet
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

from jewelnet_utils.book import (
    check_params,
    glue,
    model_title,
    show_figure,
    show_table,
)
from jewelnet_utils.contracts import records
from jewelnet_utils.contracts.utils import read_json
from jewelnet_utils.report import evaluate, plots
from jewelnet_utils.run import models, pretrain

MODEL = "vgg16"

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
# VGG16 is thirteen 3×3 convolutions in five blocks, each block ending in max-pooling. The
# thesis keeps only this convolutional part, removes the three large fully connected layers
# that classified ImageNet's 1,000 classes, and adds global average pooling, a dense layer of
# 512 units, another of 256 (each with dropout 0.3) and an eight-way softmax (section 4.4.1).
#
# Training has two stages. In stage one the backbone is frozen and only the head learns; since
# the frozen backbone always computes the same features for the same (augmented) image, those
# features can be cached, which is what makes this stage cheap on a CPU (the `smoke` and `cpu`
# profiles do so; the `paper` profile draws fresh augmented images in every epoch, as the thesis
# does). In stage two the last eight layers of the backbone are unfrozen and trained together
# with the head, at the profile's fine-tuning learning rate; the thesis asks for "a smaller" one
# without a value, and the appendix [Protocol: thesis and ours](../book/protocol.md) gives our
# reading.
#
# With `WEIGHTS = "profile"` the `smoke` and `cpu` profiles train VGG16 from random
# initialisation (ImageNet weights cannot be downloaded where the book is built); the `paper`
# profile uses ImageNet weights, as the thesis does.

# %% [markdown]
# ## The model as built
#
# The summary lists the layers at the profile's input size. Images enter as RGB values in
# [0, 255]; the network normalises them itself, so no preprocessing happens outside it.

# %%
size = P.prof.input_size(MODEL)
model = models.build_model(MODEL, input_size=size, weights=None)
model.summary(line_length=80, expand_nested=False)

# %% [markdown]
# The same network drawn from its layers, input at the top. A pretrained backbone is one
# (shaded) box: it is frozen while the new head learns, and partly unfrozen afterwards.

# %%
show_figure(plots.layer_stack(models.layer_summary(model), caption=P.provenance(),
                              title=f"{model_title(MODEL)} at {size} px"))
print(P.provenance("the layer diagram"))

# %% [markdown]
# ## Parameters against the thesis
#
# Our count at the profile's input size, our count at the thesis's input size, and the
# approximate figure from the thesis's Table 6.2. "Trainable" depends on the training stage:
# a frozen backbone holds parameters that are not updated.

# %%
thesis_size = models.THESIS_CLAIMS[MODEL]["input_size"]
at_thesis = models.build_model(MODEL, input_size=thesis_size, weights=None)
rows = {
    f"ours, {size} px (stage 1)": models.count_params(model),
    f"ours, {thesis_size} px (stage 1)": models.count_params(at_thesis),
}
if models.backbone_of(at_thesis) is not None:
    models.set_stage(at_thesis, 2)
    rows[f"ours, {thesis_size} px (stage 2)"] = models.count_params(at_thesis)
params = pd.DataFrame(rows).T
params.loc["thesis, Table 6.2 (approximate)"] = [models.THESIS_CLAIMS[MODEL]["params"], None, None]
display(params.astype("Int64").astype("string").fillna("—"))
print(P.provenance(f"the {model_title(MODEL)} parameter counts", input_size=size))
del at_thesis

# %% [markdown]
# ## Training
#
# `train.train_model` reads the split manifest from notebook 01, trains under the profile's
# protocol and writes a run folder (configuration, best model, history, predictions, timings).
# A finished run with the same settings is reused instead of trained again (set
# `RETRAIN = True` to force a new one), and an interrupted run resumes from its checkpoint.
# The log lines come from the training loop, one per epoch; in the book they are folded
# away (click to show them).

# %% tags=["hide-output"]
run_dir = P.train(MODEL, retrain=RETRAIN)

# %%
run = evaluate.load_run(run_dir)
print(f"Run folder: {P.rel(run_dir)}")
display(evaluate.training_summary(run))
print(P.provenance(f"the {model_title(MODEL)} training stages"))

# %% [markdown]
# ## Learning curves
#
# Loss and accuracy per epoch on the training and validation sets. For the transfer models a
# vertical line marks where stage two (fine-tuning) begins.

# %%
show_figure(plots.training_curves({run.name: run.history},
                                  caption=P.provenance(), title=model_title(MODEL)))
print(P.provenance(f"the {model_title(MODEL)} learning curves"))

# %% [markdown]
# ## A first look at the results
#
# Validation and test accuracy as recorded by the run. These are single numbers without
# uncertainty; [notebook 08](08-evaluation.ipynb) adds confidence intervals, per-class tables
# and paired comparisons between the models.

# %%
display(pd.Series(read_json(run_dir / "metrics.json"), name="value", dtype=object).to_frame())
print(P.provenance(f"the {model_title(MODEL)} accuracies"))

# %% [markdown]
# ## How many cached views does stage one need?
#
# Caching trades variety for speed: with K views, the head sees each training image in at
# most K augmented versions, while training through the frozen backbone draws a new version
# every epoch. Each view costs one pass of the backbone over the training images, so fewer
# views make stage one cheaper. The table below is a recorded experiment (not rerun here, it
# takes most of an hour): VGG16 in the `cpu` profile with 1, 2 and 4 cached views and without
# the cache, once from random initialisation and once from a stand-in for pretrained
# features. ImageNet weights cannot be downloaded where this book is built, so the stand-in
# backbone was trained end to end on a different JewelSynth set and given a fresh head; its
# features separate the classes, which random filters hardly do. Stage two (fine-tuning, with
# fresh augmentation) follows in every row.

# %%
views_file = P.root / "results" / "feature-cache-views.json"
views_record = None
if not views_file.is_file():
    print(f"no recorded experiment at {P.rel(views_file)}")
else:  # a record without weights, data, seed, profile and versions is refused in one line
    views_record = records.load_record(views_file, P.rel(views_file))
if views_record is not None:
    views_table = pd.DataFrame(views_record["rows"])
    views_table["train s"] = [round(r["timings"]["train_s"]) for r in views_record["rows"]]
    show_table(views_table[["backbone", "stage1", "stage1_best_val_accuracy", "val_accuracy",
                            "test_accuracy", "num_test", "train s"]].round(3))
    print(f"Source: {P.rel(views_file)}, written by `{views_record['command']}` on "
          f"{views_record['created']}; {records.describe(views_record)}; stand-in: "
          f"{views_record['stand_in']}.")

# %% [markdown]
# ## A backbone of our own, pretrained without class labels
#
# Where ImageNet weights cannot be downloaded, `jewelnet pretrain` trains each backbone on a
# pretext task that never sees the eight class labels: from JewelSynth images of another data
# seed it predicts the metal, by how many quarter turns the image was rotated, and the object's
# silhouette. The source shares JewelSynth's renderer, so it sits much closer to the target
# images than ImageNet sits to real photographs; these rows say what such pretraining buys
# here, not what ImageNet would buy on real jewelry. Each row trains the same model from the
# pretrained backbone and from random initialisation (same profile, split and seed) and
# compares them on the same test images with McNemar's test. The table is a recorded
# experiment, not rerun here; the `cpu` profile does not use these weights by default yet,
# because none of them reaches the book's bar of 70% test accuracy.

# %%
pretrain_files = sorted((P.root / "results").glob("pretrain-*.json"))
pretrain_record = records.load_record(pretrain_files[-1], P.rel(pretrain_files[-1])) \
    if pretrain_files else None
if pretrain_record is not None:
    transfer = pretrain.transfer_table(pretrain_record)
    glue("pretext_transfer", transfer)
    print(f"Source: {P.rel(pretrain_files[-1])}, written by `{pretrain_record['command']}`; "
          f"{records.describe(pretrain_record)}.")

# %% [markdown]
# ## Summary
#
# - The network is built exactly from the configuration in `jewelnet_utils/contracts/config.py`; its
#   parameter count is measured, and the thesis's approximate figure is shown beside it.
# - The run folder written here holds everything the evaluation needs, including the
#   predictions on the validation and test sets.
# - Stage one on cached features is a large saving; the recorded experiment shows what the
#   number of cached views does to accuracy and time.
# - Under the `smoke` profile the numbers only show that the code runs; under `cpu` they show
#   how the architecture behaves on JewelSynth without pre-training (see
#   [what can and cannot be compared](../book/comparability.md)).
#
# ## What's next
#
# [Notebook 05](05-resnet50.ipynb) swaps the backbone for ResNet50.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - K. Simonyan and A. Zisserman, Very deep convolutional networks for large-scale image
#   recognition, ICLR 2015: <https://arxiv.org/abs/1409.1556>
# - Freezing, new heads and fine-tuning in Keras: [transfer learning
#   guide](https://keras.io/guides/transfer_learning/).
# - The backbone as Keras ships it: [VGG16 in
#   keras.applications](https://keras.io/api/applications/vgg/).
# - Every work the book cites, in full: [References](../book/references.md).
