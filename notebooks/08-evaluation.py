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
# # 08 · Evaluation: the four models side by side
#
# ## Overview
#
# This notebook produces the evidence for the results chapter. It reads the run folders of
# notebooks 03–06 and evaluates every model on the same test images. You will learn
#
# - how the models compare in the shape of the thesis's Table 5.1, with 95% bootstrap
#   intervals and exact McNemar tests between every pair;
# - how each model does per class (the shape of Tables 5.2 and 5.3), with the number of test
#   images behind each row;
# - where the models confuse classes, which test images they get wrong, and what Grad-CAM
#   says they looked at;
# - how training went, how large and fast each model is (Table 6.2 shape, measured), and how
#   well its probabilities are calibrated;
# - whether the book's speed and memory claims hold on this machine (`jewelnet bench`).
#
# Every table and figure is computed by `evaluate.evaluate_runs`, which also writes them to
# the reports folder as CSV, JSON and PNG files.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Metrics*;
#   [Results](../book/05-results.md)
# - **Earlier notebooks:** [03](03-custom-cnn.ipynb), [04](04-vgg16.ipynb),
#   [05](05-resnet50.ipynb) and [06](06-efficientnetb2.ipynb) must have run with the same
#   parameters
# - **Time to run:** smoke: three to four minutes · cpu: five to eight minutes · paper: a few
#   minutes on a GPU (each includes about two minutes of `jewelnet bench --quick`)

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
from IPython.display import display

from jewelnet_utils import bench, config, evaluate
from jewelnet_utils.notebook_params import (
    check_choice,
    check_params,
    model_title,
    show_image,
    show_table,
)

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
N_BOOTSTRAP = 1000  # bootstrap resamples for the confidence intervals
MEASURE_LATENCY = None  # None: measure inference latency except under the smoke profile
BENCH = "quick"  # "quick": run `jewelnet bench --quick` here (~2 min), "full" (~15 min), "none"

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
BENCH = check_choice("BENCH", BENCH, ("quick", "full", "none"))
print(P.provenance())

# %% [markdown]
# ## The runs
#
# One run folder per model, named `<model>-<profile>-s<seed>`. A missing folder means the
# corresponding notebook has not been run with these parameters.

# %%
run_dirs = [P.run_dir(m) for m in config.MODELS]
missing = [d.name for d in run_dirs if not (d / "metrics.json").is_file()]
if missing:
    raise RuntimeError(f"run notebooks 03-06 first; missing finished runs: {', '.join(missing)}")
latency = P.profile != "smoke" if MEASURE_LATENCY is None else bool(MEASURE_LATENCY)
result = evaluate.evaluate_runs(run_dirs, P.reports, seed=P.seed, n_bootstrap=N_BOOTSTRAP,
                                timing=latency)
figures = {path.name: path for path in result["files"] if path.suffix == ".png"}
names = {d.name: model_title(m) for d, m in zip(run_dirs, config.MODELS, strict=True)}
print(f"Wrote {len(result['files'])} files to {P.rel(P.reports)}")
for note in result["notes"]:
    print("note:", note)

# %% [markdown]
# ## Overall comparison (Table 5.1 shape)
#
# Accuracy and the macro averages of precision, recall, F1, false-positive and false-negative
# rate, each model's 95% bootstrap interval for accuracy and macro F1, and the thesis's
# reported accuracy and F1 for the same architecture. The thesis's numbers were measured on
# its own photographs; [what can be compared](../book/comparability.md) explains why they are
# shown for reference only.

# %%
summary = result["summary"].set_index("run").rename(index=names)
table = summary[["n", "Accuracy", "Precision", "Recall", "F1", "FPR", "FNR"]].round(4)
table.insert(2, "Accuracy 95% CI", [f"{lo:.3f}–{hi:.3f}" for lo, hi in
                                     zip(summary["Accuracy CI low"], summary["Accuracy CI high"],
                                         strict=True)])
table.insert(6, "F1 95% CI", [f"{lo:.3f}–{hi:.3f}" for lo, hi in
                               zip(summary["F1 CI low"], summary["F1 CI high"], strict=True)])
table["Thesis accuracy"] = summary["Thesis Accuracy"]
table["Thesis F1"] = summary["Thesis F1"]
display(table)
print(P.provenance("the overall comparison", bootstrap=N_BOOTSTRAP))

# %% [markdown]
# ### Are the differences real? Exact McNemar tests
#
# For each pair of models, *b* counts test images only the first model gets right and *c*
# images only the second gets right. Under the hypothesis that both models are equally
# accurate, *b* and *c* are equally likely; the p-value is the exact two-sided binomial
# probability of a split at least as uneven. A large p-value means the test set cannot tell
# the two models apart.

# %%
mcnemar = result["mcnemar"].copy()
mcnemar["model_a"] = mcnemar["model_a"].map(model_title)
mcnemar["model_b"] = mcnemar["model_b"].map(model_title)
display(mcnemar[["model_a", "model_b", "n", "b_only_a_right", "c_only_b_right", "p_value",
                 "accuracy_a", "accuracy_b", "note"]].round(4))
print(P.provenance("the McNemar tests"))

# %% [markdown]
# ## Per class (Tables 5.2 and 5.3 shape)
#
# One-versus-rest metrics per class, then the macro average (classes weighted equally, as in
# the thesis) and the support-weighted average. *Support* is the number of test images of the
# class: with a few dozen images, one image moves recall by several points.

# %%
for run_name, table in result["per_class"].items():
    print(names.get(run_name, run_name))
    display(table.set_index("class").round(4))
    print(P.provenance(f"the per-class table of {names.get(run_name, run_name)}"))

# %% [markdown]
# ## Confusion matrices
#
# Rows are true classes, columns predicted classes, cells are counts of test images. The
# thesis expects bangle/bracelet and chain/necklace to be the main confusions.

# %%
for run_name in result["per_class"]:
    show_image(figures[f"confusion_{run_name}.png"])
    print(P.provenance(f"the confusion matrix of {names.get(run_name, run_name)}"))

# %% [markdown]
# ### Misclassified test images
#
# The most confident mistakes of each model, with the true class, the predicted class and the
# predicted probability.

# %%
for run_name in result["per_class"]:
    png = figures.get(f"misclassified_{run_name}.png")
    if png is None:
        print(f"{names.get(run_name, run_name)}: no misclassified test images")
    else:
        show_image(png)
    print(P.provenance(f"the misclassified images of {names.get(run_name, run_name)}"))

# %% [markdown]
# ## Training dynamics
#
# Training and validation curves of all four models; for the transfer models the vertical
# line marks the start of fine-tuning.

# %%
show_image(figures["training_curves.png"])
print(P.provenance("the training curves"))

# %% [markdown]
# ## Efficiency (Table 6.2 shape, measured)
#
# Parameters, multiply-accumulate operations per image, model file size, measured training
# time and inference latency on the machine that ran this notebook, with the thesis's
# approximate claims alongside. Timings are comparable only within one build. The `smoke`
# build skips the latency measurement (it would dominate its running time); set
# `MEASURE_LATENCY = True` to force it.

# %%
efficiency = result["efficiency"].copy()
if "model" in efficiency:
    efficiency["model"] = efficiency["model"].map(model_title)
display(efficiency)
print(P.provenance("the efficiency table"))

# %% [markdown]
# ### Speed and memory claims, measured: `jewelnet bench`
#
# The table above measures the trained models. The claims the book makes about the machinery
# itself (a faster input pipeline than the thesis's `ImageDataGenerator`, a pipeline that
# keeps the model busy, the stage-1 feature cache, one-image latency, catalog search, the
# synthetic generator, memory) are checked by `jewelnet bench`. Every figure is a ratio or a
# quantity measured side by side in one run, each with its goal. The next cell runs the bench
# on the machine building this book (`BENCH = "quick"`, about two minutes; `"full"` runs the
# full sizes, `"none"` skips it). Background load slows everything, and the header says how
# loaded the machine was. The shared hosts this book is built on also change speed for
# seconds at a time, so the feature-cache figure, whose two legs run one after the other and
# last 15 seconds and 4 minutes, compares CPU seconds (unchanged by such a slowdown) and prints
# the wall-clock ratio beside them.

# %%
if BENCH == "none":
    print("BENCH = 'none': no bench run in this build")
else:
    live = bench.run(quick=BENCH == "quick", json_out=P.reports / "bench.json")
    show_table(bench.results_table(live))
    print(f"Source: {P.rel(P.reports / 'bench.json')}, measured by the cell above: "
          + bench.describe_run(live))

# %% [markdown]
# The committed reference run below is the full bench (full sizes, all four models for
# memory) recorded on an otherwise idle two-core machine like the one this project is built on.
# It is read from the JSON file `jewelnet bench --json` wrote, never retyped; run
# `jewelnet bench --json results/bench-<date>.json` to add your own machine.

# %%
record = bench.newest_record(P.root / "results")
if record is None:
    print("no full bench record in results/")
else:
    reference = bench.load_results(record)
    show_table(bench.results_table(reference))
    print(f"Source: {P.rel(record)}, the committed reference run: "
          + bench.describe_run(reference))

# %% [markdown]
# ## Calibration
#
# A model is well calibrated when, among images it labels with 80% confidence, about 80% are
# right. The reliability diagram plots accuracy against confidence per bin; the expected
# calibration error (ECE) is the average gap, weighted by how many images fall in each bin.

# %%
display(summary[["ECE"]].round(4))
if "reliability.png" in figures:
    show_image(figures["reliability.png"])
print(P.provenance("the calibration results"))

# %% [markdown]
# ## Grad-CAM: where the models look
#
# For test images of the two confusable pairs that a model got wrong, Grad-CAM highlights the
# image regions that most increased the score of the predicted class. Attention on the
# background rather than the piece is a warning sign.

# %%
for run_name in result["per_class"]:
    png = figures.get(f"gradcam_{run_name}.png")
    if png is not None:
        show_image(png)
    print(P.provenance(f"the Grad-CAM figure of {names.get(run_name, run_name)}"))

# %% [markdown]
# ## Summary
#
# - The overall table ranks the models, but only the intervals and the McNemar tests say
#   whether the test set supports the ranking.
# - Per-class tables and confusion matrices show where each model fails; compare the
#   bangle/bracelet and chain/necklace cells with the thesis's section 5.6.
# - Efficiency, calibration and Grad-CAM go beyond the thesis; all of them are measured here.
# - `jewelnet bench` checks the speed and memory claims on this machine, beside a committed
#   reference run on an idle machine; each figure says whether it meets its goal.
# - Every table above also exists as a CSV in the reports folder, with `profile`, `dataset`
#   and `weights` columns.
#
# ## What's next
#
# [Notebook 09](09-recommendation.ipynb) reuses a trained network's features to recommend
# similar items.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - Q. McNemar, Note on the sampling error of the difference between correlated proportions or
#   percentages, Psychometrika 12 (1947): <https://doi.org/10.1007/BF02295996>
# - B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993.
# - C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, On calibration of modern neural networks, ICML
#   2017: <https://arxiv.org/abs/1706.04599>
# - R. R. Selvaraju et al., Grad-CAM: visual explanations from deep networks via gradient-based
#   localization, ICCV 2017: <https://arxiv.org/abs/1610.02391>
# - The per-class metrics: [scikit-learn's model evaluation
#   guide](https://scikit-learn.org/stable/modules/model_evaluation.html).
# - Every work the book cites, in full: [References](../book/references.md).
