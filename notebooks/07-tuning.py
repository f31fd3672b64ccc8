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
# # 07 · Hyperparameter search with KerasTuner
#
# ## Overview
#
# The thesis fixes its hyperparameters by hand (its Tables 4.4 and B.1) and does not say how
# they were chosen. Here a KerasTuner search explores them systematically. In this notebook
# you will learn
#
# - which hyperparameters are searched and over which ranges;
# - how to read a table of trials and a plot of validation accuracy against each
#   hyperparameter;
# - where the best configuration is saved (`best.json`) and how training picks it up.
#
# The search scores trials on the **validation** set only; the test set stays untouched until
# [notebook 08](08-evaluation.ipynb).
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Training protocol*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); notebooks 03–06
#   explain the models
# - **Time to run:** `smoke` 11 s · `cpu` 4 min · `paper` not measured yet
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
from jewelnet_utils.contracts import artifacts
from jewelnet_utils.run import tuning

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
TUNE_MODELS = None  # None: the custom CNN (smoke, cpu) or all four models (paper)

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
print(P.provenance())

# %%
models_to_tune = TUNE_MODELS or (
    ["custom_cnn", "vgg16", "resnet50", "efficientnetb2"] if P.profile == "paper"
    else ["custom_cnn"])
budget = P.settings.tuner
print(f"Searching {', '.join(map(model_title, models_to_tune))} with {budget}")

# %% [markdown]
# ## The search space
#
# Learning rate, batch size, the widths of the two dense layers, their dropout rates, the L2
# strength, the augmentation strength (a multiplier on every range of Table 4.2) and, for the
# transfer models, how many backbone layers are fine-tuned in stage two.

# %%
for name in models_to_tune:
    space = pd.DataFrame(tuning.search_space(name, P.profile)).T
    space = space.reindex(columns=[c for c in ("type", "values", "min", "max", "step",
                                               "sampling", "default") if c in space])
    space.index.name = model_title(name)
    display(space.fillna(""))
print(P.provenance("the search spaces"))

# %% [markdown]
# ## Running the search
#
# A rerun resumes the KerasTuner project and does not repeat finished trials.

# %%
results = {}
for name in models_to_tune:
    results[name] = tuning.run_search(name, P.dataset(), P.split_path(), P.profile,
                                      P.tuning_dir(), seed=P.seed, weights=P.weights,
                                      verbose=0)
    print(f"{model_title(name)}: best validation accuracy "
          f"{results[name].get('val_accuracy', float('nan')):.4f}")

# %% [markdown]
# ## Trials
#
# One row per trial with its validation accuracy and hyperparameters, and one panel per
# hyperparameter with the best trial starred. The line under each table gives this build's
# budget; with a handful of one-epoch trials (the `smoke` profile) the table shows only that the
# search runs, not which settings are better.

# %%
for name in models_to_tune:
    trials = tuning.trials_table(P.tuning_dir() / name)
    display(trials)
    print(f"{len(trials)} trials in this build ({P.profile} profile), "
          f"at most {P.settings.tuner['max_epochs']} epochs each")
    print(P.provenance(f"the {model_title(name)} trials"))
    show_figure(tuning.plot_hparams(trials, title=f"{model_title(name)}: validation accuracy "
                                                  "against each hyperparameter"))
    print(P.provenance(f"the {model_title(name)} hyperparameter plot"))

# %% [markdown]
# ## The best configuration
#
# `best.json` holds the winning hyperparameters. It can be passed to training:
# `jewelnet train --model custom_cnn ... --hparams artifacts/tuning/<profile>/custom_cnn/best.json`,
# or `train_model(..., hparams=...)` from Python.

# %%
for name, best in results.items():
    display(pd.Series(best.get("hparams", {}), name=model_title(name), dtype=object).to_frame())
    print(f"saved as {P.rel(artifacts.best_file(P.tuning_dir() / name))}")
    print(P.provenance(f"the best {model_title(name)} configuration"))

# %% [markdown]
# ## Summary
#
# - The search covers the settings the thesis fixed by hand, plus augmentation strength and
#   fine-tuning depth.
# - Trials are compared on validation accuracy only, so the test set remains an unbiased judge.
# - With few trials and short schedules (the `smoke` and `cpu` profiles) the winner is noisy;
#   the ranking of hyperparameters is more informative than the single best value.
#
# ## What's next
#
# [Notebook 08](08-evaluation.ipynb) evaluates the four models trained in notebooks 03–06 on
# the test set.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, Hyperband: a novel
#   bandit-based approach to hyperparameter optimization, JMLR 18 (2018):
#   <https://jmlr.org/papers/v18/16-558.html>
# - The search library: [KerasTuner](https://keras.io/keras_tuner/).
# - Every work the book cites, in full: [References](../book/references.md).
