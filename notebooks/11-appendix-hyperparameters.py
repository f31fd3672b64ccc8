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
# The thesis collects its settings in Table B.1. Here the same kind of table is generated
# from `jewelnet_utils/contracts/config.py` for each profile, so it can never drift from what
# the code does.
# You will learn
#
# - every setting of the `paper` profile (the thesis's protocol) per model;
# - how the `cpu` and `smoke` profiles shrink it;
# - which committed results records say what they are, and which the book refuses to show.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md),
#   [Protocol: thesis and ours](../book/protocol.md)
# - **Earlier notebooks:** none
# - **Time to run:** `smoke` 1 s · `cpu` 2 s · `paper` not measured yet
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

from jewelnet_utils.book import check_params, hyperparameter_table
from jewelnet_utils.contracts import config, records

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
# The `paper` profile follows the thesis's protocol (Tables 4.1, 4.2, 4.4 and B.1), with the
# readings in the appendix [Protocol: thesis and ours](../book/protocol.md): there, every setting
# stands beside the thesis's value and the line it comes from, and every ambiguous point (the
# epoch length, the fine-tuning learning rate, the split of the 50 epochs, ResNet50's staging,
# normalisation, augmentation, near-duplicates, weights) lists its alternatives and our reason.
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
# ## Recorded runs: what each says it is
#
# The folder `results/` holds measurements too long to repeat in a book build. A record is
# shown only when it names its weights, data, seed, profile and library versions; otherwise the
# book prints one line saying which of these it lacks, because a number of unknown origin cannot
# be compared with the thesis or with another run.

# %%
for record_path in sorted((P.root / "results").glob("*.json")):
    record = records.load_record(record_path, P.rel(record_path))
    if record is not None:
        print(f"{P.rel(record_path)}: {records.describe(record)}")

# %% [markdown]
# ## Summary
#
# - Every number above is read from `config.py`, which builds the `paper` profile from the
#   thesis's transcribed tables (`thesis.py`); the notebooks and the command line read the same
#   objects.
# - Settings the thesis leaves open are visible as such and can be changed in one place.
# - A results record that does not say what it is does not reach the book.
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
