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
# # Appendix · Every hyperparameter, generated from the configuration
#
# ## Overview
#
# The thesis collects its settings in Table B.1. Here the same kind of table is generated from
# `jewelnet_utils/config.py` for each profile, so it can never drift from what the code does.
# You will learn
#
# - every setting of the `paper` profile (the thesis's protocol) per model;
# - how the `cpu` and `smoke` profiles shrink it;
# - which settings the thesis leaves open and which values we chose for them.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md)
# - **Earlier notebooks:** none
# - **Time to run:** a few seconds with every profile

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
import pandas as pd
from IPython.display import display

from jewelnet_utils import config
from jewelnet_utils.notebook_params import check_params, hyperparameter_table

pd.set_option("display.max_colwidth", 200)

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
# ## The profiles
#
# One line each, from the profile definitions.

# %%
display(pd.DataFrame({name: {"description": prof.description}
                      for name, prof in config.PROFILES.items()}).T)
print("Generated from config.PROFILES.")

# %% [markdown]
# ## Table B.1 for each profile
#
# The `paper` profile reproduces the thesis's Tables 4.2, 4.4 and B.1. Two of its rows are our
# choices because the thesis does not give them: how the 50 epochs of the transfer models are
# divided between the two stages, and the smaller learning rate of stage two. ResNet50 fine-tunes
# its last 50 layers, following the thesis's text rather than its Table B.1 (see the
# [Methodology](../book/04-methodology.md) chapter).
#
#
# Each profile gets two tables: the settings that differ between the four models, and the
# settings they share.

# %%
for name in ("paper", "cpu", "smoke"):
    print(f"Profile {name!r}" + ("  (the profile this book was built with)"
                                 if name == P.profile else ""))
    display(hyperparameter_table(name, "per-model"))
    display(hyperparameter_table(name, "shared"))
    print(f"Generated from config.PROFILES[{name!r}] and config.MODEL_SPECS.")

# %% [markdown]
# ## Summary
#
# - Every number above is read from `config.py`, the single place where the thesis's settings
#   are written down; the notebooks and the command line read the same objects.
# - Settings the thesis leaves open are visible as such and can be changed in one place.
#
# ## What's next
#
# Back to the [introduction](../book/intro.md), or on to
# [re-running with real photos](../book/colab-kaggle.md).

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - D. P. Kingma and J. Ba, Adam: a method for stochastic optimization, ICLR 2015:
#   <https://arxiv.org/abs/1412.6980>
# - The callbacks the protocol re-implements: [Keras callbacks](https://keras.io/api/callbacks/).
# - Every work the book cites, in full: [References](../book/references.md).
