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
# # Appendix · How this book was measured
#
# ## Overview
#
# The chapters report what the models do. This appendix collects how the machinery behind
# them was measured, for readers who want to check the book's speed claims or the synthetic
# data's calibration rather than learn the method. You will find
#
# - `jewelnet bench`: the speed and memory claims the book makes about its own machinery (the
#   input pipeline against the thesis's `ImageDataGenerator`, the stage-1 feature cache,
#   one-image latency, catalogue search, the generator, peak memory), measured live in this
#   build and in a committed reference run;
# - how JewelSynth's difficulty settings were calibrated against the thesis's accuracies, and
#   the search that led to them.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Evaluation](08-evaluation.ipynb) and
#   [Data exploration](01-data-exploration.ipynb)
# - **Earlier notebooks:** none: the bench trains its own small models
# - **Time to run:** `smoke` 1 min · `cpu` 1 min · `paper` not measured yet
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

from jewelnet_utils.book import check_choice, check_params, show_table
from jewelnet_utils.contracts import records
from jewelnet_utils.images import synth
from jewelnet_utils.tools import bench, calibrate

# %% [markdown]
# ## Parameters
#
# papermill overrides this cell (`-p PROFILE smoke`, `-p BENCH none`, ...).

# %% tags=["parameters"]
PROFILE = os.environ.get("PROFILE", "cpu")  # smoke | cpu | paper
DATA_DIR = None  # None: the profile's synthetic JewelSynth set, generated if missing
WEIGHTS = "profile"  # "profile" (the profile's default), "imagenet", "none" or a file path
SEED = 42
ARTIFACTS = "artifacts"  # runs, splits and tuning results go here
BENCH = "quick"  # "quick": run `jewelnet bench --quick` here (~2 min), "full" (~10 min), "none"

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
BENCH = check_choice("BENCH", BENCH, ("quick", "full", "none"))
print(P.provenance())

# %% [markdown]
# ## Speed and memory claims: `jewelnet bench`
#
# Every figure is a ratio or a quantity measured side by side in one run, each with its goal.
# The next cell runs the bench on the machine building this book. Background load slows
# everything, and the line under the table says how loaded the machine was. Shared machines
# can also change speed for seconds at a time, so the feature-cache figure, whose two legs run
# one after the other, compares CPU seconds (which such a slowdown leaves unchanged) and
# gives the wall-clock ratio beside them. A figure that misses its goal says so in the
# "met" column.

# %%
if BENCH == "none":
    print("BENCH = 'none': no bench run in this build")
else:
    live = bench.run(quick=BENCH == "quick", json_out=P.reports / "bench.json")
    show_table(bench.results_table(live))
    print("Source: measured by the cell above, " + bench.describe_run(live))

# %% [markdown]
# The committed reference run below is the full bench (full sizes, all four models for
# memory) recorded on an otherwise idle two-core machine. It is read from the JSON file
# `jewelnet bench --json` wrote, never retyped; run `jewelnet bench --json
# results/bench-<date>.json` to add your own machine.

# %%
record = bench.newest_record(P.root / "results")
reference = None
if record is None:
    print("no full bench record in results/")
else:  # a record without weights, data, seed, profile and versions is refused in one line
    reference = records.load_record(record, P.rel(record))
if reference is not None:
    show_table(bench.results_table(reference))
    print(f"Source: {P.rel(record)}: " + bench.describe_run(reference) + "; "
          + records.describe(reference))

# %% [markdown]
# ## How JewelSynth was calibrated
#
# The generator's difficulty settings (how many look-alikes, how much cropping, blur, noise and
# lighting change) were tuned until the custom CNN, trained with the `cpu` profile, behaves the
# way the thesis describes its own data: on `thesis` difficulty a test accuracy between 85 %
# and 97 % with bangle/bracelet and chain/necklace as the two largest confusions; `easy` at
# least 98 %; `hard` below `thesis`. The record ships with the package
# (`synth_calibration.json`) and is rewritten by `jewelnet calibrate --difficulty easy
# thesis hard --record jewelnet_utils/tools/synth_calibration.json`. It describes the
# generator, not a model trained in this book.

# %%
calibration = calibrate.load_calibration()
if not calibration.get("runs"):
    print("This version of the package ships no calibration record.")
else:
    print(f"Calibration runs of JewelSynth {synth.VERSION} "
          "(Custom CNN, cpu profile, thesis class counts, no pretrained weights):")
    show_table(pd.DataFrame(calibrate.calibration_verdicts(calibration)))
    print("Source: jewelnet_utils/tools/synth_calibration.json, shipped with the package.")

# %% [markdown]
# The search that led to these settings is recorded too: each row is one training run on a
# candidate setting of an earlier generator version. Test accuracy varies by several points
# between seeds on a 185-image test set, which is why the record above lists more than one
# seed.

# %%
exploration = pd.DataFrame(calibration.get("exploration", []))
if not exploration.empty:
    show_table(exploration)
    print("Source: the 'exploration' list of jewelnet_utils/tools/synth_calibration.json.")

# %% [markdown]
# ## Summary
#
# - Each speed or memory claim of the book is a measured figure with a goal, live in this
#   build and in a committed reference run.
# - JewelSynth's difficulty is a calibrated contract with the thesis's accuracies, recorded
#   with the package and re-measurable with one command.
#
# ## What's next
#
# Back to the [introduction](../book/intro.md), or on to the
# [hyperparameter appendix](11-appendix-hyperparameters.ipynb).

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - The thesis's input pipeline is Keras's legacy `ImageDataGenerator`; ours is
#   [`tf.data`](https://www.tensorflow.org/guide/data), measured against it above.
# - J. Johnson, M. Douze and H. Jégou, Billion-scale similarity search with GPUs, IEEE
#   Transactions on Big Data 7 (2021): <https://arxiv.org/abs/1702.08734> (the FAISS library
#   behind the catalogue-search figure).
# - Every work the book cites, in full: [References](../book/references.md).
