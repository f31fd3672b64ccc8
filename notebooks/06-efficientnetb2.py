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
# # 06 · EfficientNetB2 with a new head
#
# ## Overview
#
# In this notebook you will learn
#
# - how EfficientNetB2 is combined with the head of the thesis's listing C.1;
# - how its parameter count compares with the "≈9M" of the thesis's Table 6.2;
# - how it trains, in two stages, at its larger input size (260 pixels in the `paper`
#   profile).
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Four networks*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); [05 ·
#   ResNet50](05-resnet50.ipynb) is useful background
# - **Time to run:** `smoke` 52 s · `cpu` 1 min · `paper` not measured yet
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

from jewelnet_utils.book import check_params, model_title, show_figure
from jewelnet_utils.contracts.utils import read_json
from jewelnet_utils.report import evaluate, plots
from jewelnet_utils.run import models

MODEL = "efficientnetb2"

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
# EfficientNetB2 is built from mobile inverted bottleneck blocks (an expanding 1×1
# convolution, a depthwise convolution, squeeze-and-excitation channel weighting and a
# projecting 1×1 convolution), scaled up from EfficientNetB0 in depth, width and resolution
# together. The thesis feeds it 260-pixel images and, following its listing C.1, adds global
# average pooling, batch normalisation, a dense layer of 512 units with L2 regularisation 0.01
# and dropout 0.5, a dense layer of 256 units with dropout 0.3, and an eight-way softmax.
#
# Stage one trains the head on the frozen backbone; stage two fine-tunes the last 50 layers of
# the backbone with a smaller learning rate (section 4.5). The 256-unit layer is also the
# embedding the recommender uses in [notebook 09](09-recommendation.ipynb).
#
# With `WEIGHTS = "profile"` the `smoke` and `cpu` profiles train EfficientNetB2 from random
# initialisation; the `paper` profile uses ImageNet weights, as the thesis does.

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
# ## Summary
#
# - The network is built exactly from the configuration in `jewelnet_utils/contracts/config.py`; its
#   parameter count is measured, and the thesis's approximate figure is shown beside it.
# - The run folder written here holds everything the evaluation needs, including the
#   predictions on the validation and test sets.
# - Under the `smoke` profile the numbers only show that the code runs; under `cpu` they show
#   how the architecture behaves on JewelSynth without pre-training (see
#   [what can and cannot be compared](../book/comparability.md)).
#
# ## What's next
#
# [Notebook 07](07-tuning.ipynb) searches hyperparameters with KerasTuner;
# [notebook 08](08-evaluation.ipynb) then compares the four trained models.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - M. Tan and Q. V. Le, EfficientNet: rethinking model scaling for convolutional neural networks,
#   ICML 2019: <https://arxiv.org/abs/1905.11946>
# - Both fine-tuning stages on the page, with BatchNorm kept frozen: [image classification via
#   fine-tuning with
#   EfficientNet](https://keras.io/examples/vision/image_classification_efficientnet_fine_tuning/).
# - The backbone as Keras ships it: [EfficientNet in
#   keras.applications](https://keras.io/api/applications/efficientnet/).
# - Every work the book cites, in full: [References](../book/references.md).
