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
# - how the four models do in the thesis's other experiment, a balanced set of 200 images per
#   class, trained here, and how the two experiments compare.
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
# - **Time to run:** `smoke` 1 min · `cpu` 20 min · `paper` not measured yet
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

from IPython.display import Image, Markdown, display

from jewelnet_utils.book import (
    check_params,
    glue,
    model_title,
    show_image,
    show_warnings,
)
from jewelnet_utils.contracts import artifacts, config
from jewelnet_utils.report import comparison, evaluate

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

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
print(P.provenance())
glue("provenance", P.provenance().removeprefix("Provenance: "), display=False)

# %% [markdown]
# ## The runs
#
# One run folder per model, named `<model>-<profile>-s<seed>`. A missing folder means the
# corresponding notebook has not been run with these parameters. `evaluate_runs` computes every
# table and figure below and also saves them, with provenance columns, in the reports folder.

# %%
run_dirs = [P.run_dir(m) for m in config.MODELS]
missing = [d.name for d in run_dirs if not artifacts.is_finished(d)]
if missing:
    raise RuntimeError("run notebooks 03-06 first; missing finished runs: "
                       + ", ".join(missing))
latency = P.profile != "smoke" if MEASURE_LATENCY is None else bool(MEASURE_LATENCY)
result = evaluate.evaluate_runs(run_dirs, P.reports, seed=P.seed,
                                n_bootstrap=N_BOOTSTRAP, timing=latency)
figures = {path.name: path for path in result["files"] if path.suffix == ".png"}
summary = result["summary"]
run_of = dict(zip(summary["model"], summary["run"], strict=True))
warnings = dict(zip(summary["model"], summary["Warning"], strict=True))
glue("n_test", int(summary["n"].iloc[0]), display=False)
print(f"Tables and figures saved under {P.rel(P.reports)}")

# %% [markdown]
# ## Overall comparison (Table 5.1)
#
# Accuracy and macro-averaged F1 of each model on the test images, each with its 95% bootstrap
# interval, beside the values the thesis reports for the same architecture. The thesis's
# numbers were measured on its own photographs; [what can be compared](../book/comparability.md)
# explains why they are a reference, not a target.

# %%
overall = comparison.overall_table(summary)
glue("overall_table", overall)
show_warnings({model_title(m): w for m, w in warnings.items()},
              "Its numbers describe a model that has not learned the task: they are "
              "not findings, and its calibration and Grad-CAM are not reported below.")
for _, row in summary.iterrows():
    glue(f"acc_{row['model']}", f"{100 * row['Accuracy']:.1f}%", display=False)
    low, high = row["Accuracy CI low"], row["Accuracy CI high"]
    glue(f"acc_ci_{row['model']}", f"{100 * low:.1f}–{100 * high:.1f}%", display=False)

# %% [markdown]
# ### Does the thesis's ranking hold here?
#
# The thesis orders the models EfficientNetB2, VGG16, custom CNN, ResNet50. Each step of that
# order is a claim that one model is more accurate than the next. The exact McNemar test
# compares two models on the same images: *b* counts images only the first gets right, *c*
# images only the second gets right, and the p-value says how likely so uneven a split would be
# if both were equally accurate. A claim **holds** when our accuracies agree and p < 0.05.

# %%
ranking = comparison.ranking_claims(summary, result["mcnemar"])
glue("ranking_claims", ranking)

# %%
glue("ordering_verdict", comparison.ordering_verdict(ranking), display=False)
print(f"The thesis's order {comparison.ordering_verdict(ranking)}.")

# %% [markdown]
# ### What pre-training buys each transfer model
#
# The thesis's central finding rests on pre-training, so each transfer model's run is set
# beside the same model trained from random initialisation: same profile, split, seed and
# protocol, scored on the same test images. Notebooks 04-06 train those random-init runs (in
# `random-init/` under `ARTIFACTS`); a missing one is trained here.

# %%
pretraining = P.pretraining_table([m for m in config.MODELS if config.MODEL_SPECS[m].two_stage])
glue("pretraining_gain", pretraining if pretraining is not None else Markdown(
    "Not compared in this build: its transfer models start from random initialisation."))

# %% [markdown]
# Every pair of models, for reference:

# %%
pairs = result["mcnemar"].assign(
    model_a=lambda df: df["model_a"].map(model_title),
    model_b=lambda df: df["model_b"].map(model_title),
    p_value=lambda df: df["p_value"].map("{:.2g}".format))  # tiny p-values stay readable
pairs = pairs.rename(columns={
    "model_a": "Model A", "model_b": "Model B", "b_only_a_right": "Only A right",
    "c_only_b_right": "Only B right", "p_value": "p"})
glue("mcnemar_table", pairs[["Model A", "Model B", "Only A right", "Only B right", "p"]]
     .round(4).set_index(["Model A", "Model B"]))

# %% [markdown]
# ### Where the models confuse classes (thesis section 5.6)
#
# The thesis names bangle/bracelet and chain/necklace as every model's main confusions. The
# table lists each model's two class pairs with the most errors between them (both directions
# counted).

# %%
confusion_claims = comparison.confusion_claim(
    {m: result["confusions"][run_of[m]] for m in run_of}, config.CLASSES, warnings)
glue("confusion_claims", confusion_claims)


# %% [markdown]
# ## Model by model (Tables 5.2 and 5.3)
#
# For each model: one-versus-rest metrics per class with the number of test images behind each
# row (*support*: with a few dozen images, one image moves recall by several points), the
# thesis's per-class table beside ours where the thesis prints one, the confusion matrix (rows
# are true classes), its most confident mistakes, and Grad-CAM maps of its bangle/bracelet and
# chain/necklace errors (red regions raised the predicted class's score most; attention on the
# background rather than the piece is a warning sign).

# %%
FIGURE_WIDTH = 720  # pixels: the book's text column, so figure text keeps its size


def show_model(model: str) -> None:
    """Every per-model table and figure of one model; glues those the results
    chapter uses."""
    run = run_of[model]
    per_class = result["per_class"][run].assign(
        **{"class": lambda df: df["class"].map(lambda c: config.DISPLAY_NAMES.get(c, c))})
    display(per_class.set_index("class").round(3))
    theirs = comparison.per_class_comparison(model, result["per_class"][run])
    if theirs is not None:
        glue(f"per_class_{model}", theirs)
    for kind in ("confusion", "misclassified", "gradcam"):
        png = figures.get(f"{kind}_{run}.png")
        if png is None:
            print(f"No {kind} figure: this model made no such errors "
                  "on the test images.")
            continue
        image = Image(data=png.read_bytes(), width=FIGURE_WIDTH)
        if kind == "confusion":
            glue(f"confusion_{model}", image)
        else:
            display(image)

# %% [markdown]
# ### Custom CNN

# %%
show_model("custom_cnn")

# %% [markdown]
# ### VGG16

# %%
show_model("vgg16")

# %% [markdown]
# ### ResNet50

# %%
show_model("resnet50")

# %% [markdown]
# ### EfficientNetB2

# %%
show_model("efficientnetb2")

# %% [markdown]
# ## Training dynamics
#
# Training and validation curves of all four models; for the transfer models the vertical
# line marks the start of fine-tuning.

# %%
show_image(figures["training_curves.png"], width=FIGURE_WIDTH)

# %% [markdown]
# ## Efficiency (Table 6.2, measured)
#
# The thesis's Table 6.2 gives rounded claims. Here each is beside what we measure on the model
# as trained in this build: its parameters, multiply-adds per image (the convention behind the
# thesis's FLOPs), file size, training time and one-image inference time on the machine that
# built this page. Sizes differ from the thesis's where this profile uses smaller inputs.
# Times are comparable only within one build; the `smoke` build skips the latency measurement
# (set `MEASURE_LATENCY = True` to force it).

# %%
size_table, time_table = comparison.efficiency_tables(result["efficiency"])
glue("efficiency_size", size_table)
glue("efficiency_time", time_table)

# %% [markdown]
# How fast the machinery itself is (the input pipeline, the feature cache, the catalogue
# search, the generator) is measured by `jewelnet bench`; the appendix
# [How this book was measured](12-appendix-measurement.ipynb) shows its results.
#
# ## Calibration
#
# A model is well calibrated when, among images it labels with 80% confidence, about 80% are
# right. The reliability diagram plots accuracy against confidence per bin; the expected
# calibration error (ECE) is the average gap, weighted by how many images fall in each bin.
# A model that always gives the same answer can have a small ECE without being useful, so
# models flagged in the overall comparison are left out here.

# %%
ece = summary.set_index("model")["ECE"].rename(index=model_title).round(3)
display(ece.astype(object).where(ece.notna(), "not reported (see the warning above)")
        .to_frame("ECE"))
if "reliability.png" in figures:
    show_image(figures["reliability.png"], width=FIGURE_WIDTH)

# %% [markdown]
# ## The balanced experiment
#
# The thesis ran two experiments (its lines 452–454): first a balanced set of 1,600 images,
# 200 per class, then the imbalanced 1,217-image collection of Table 4.1 that everything above
# uses. Its Table 5.1 does not say which experiment it reports, but most of its accuracies are
# whole numbers of correct images out of a test set the size of 15% of 1,600, so the headline
# table most likely comes from the balanced one ([notebook 10](10-thesis-audit.ipynb) works
# this out). Here the same four models train again, under the same profile and seed, on a
# balanced JewelSynth set of the profile's size; its images, split, runs and reports are kept
# in their own `balanced/` folders. The training logs are folded away (click to show them).

# %% tags=["hide-output"]
if P.synthetic:
    B = P.for_experiment("balanced")
    balanced_dirs = [B.train(model, progress=False) for model in config.MODELS]
else:
    B = None
    print("DATA_DIR is a photo folder: only its own experiment runs; "
          "the balanced experiment is drawn by JewelSynth.")

# %% [markdown]
# The overall comparison and the ranking claims, as for the imbalanced experiment above:

# %%
if B is not None:
    balanced = evaluate.evaluate_runs(balanced_dirs, B.reports, seed=B.seed,
                                      n_bootstrap=N_BOOTSTRAP, timing=False)
    balanced_summary = balanced["summary"]
    balanced_warnings = dict(zip(balanced_summary["model"],
                                 balanced_summary["Warning"], strict=True))
    # The balanced experiment's own provenance line: its images differ.
    balanced_provenance = B.provenance()
    glue("provenance_balanced", balanced_provenance.removeprefix("Provenance: "),
         display=False)
    glue("n_test_balanced", int(balanced_summary["n"].iloc[0]), display=False)
    glue("overall_table_balanced", comparison.overall_table(balanced_summary))
    show_warnings({model_title(m): w for m, w in balanced_warnings.items()},
                  "Its numbers in the balanced experiment are not findings.")
    glue("ranking_claims_balanced",
         comparison.ranking_claims(balanced_summary, balanced["mcnemar"]))
    print(balanced_provenance)

# %% [markdown]
# Each model's confusion matrix in the balanced experiment (rows are true classes), and its
# two largest confusions against the thesis's section 5.6:

# %%
if B is not None:
    balanced_run_of = dict(zip(balanced_summary["model"], balanced_summary["run"],
                               strict=True))
    glue("confusion_claims_balanced", comparison.confusion_claim(
        {m: balanced["confusions"][balanced_run_of[m]] for m in balanced_run_of},
        config.CLASSES, balanced_warnings))
    balanced_figures = {path.name: path for path in balanced["files"]
                        if path.suffix == ".png"}
    for model, run_name in balanced_run_of.items():
        png = balanced_figures[f"confusion_{run_name}.png"]
        glue(f"confusion_{model}_balanced",
             Image(data=png.read_bytes(), width=FIGURE_WIDTH))

# %% [markdown]
# ## Both experiments side by side
#
# Test accuracy of every model in both experiments, each with its 95% interval, beside Table
# 5.1. The two experiments are scored on different test images, so they are compared by their
# intervals, not paired like the models within one experiment.

# %%
summaries = {"imbalanced": summary}
if B is not None:
    summaries["balanced"] = balanced_summary
glue("experiments_table", comparison.experiments_table(summaries))

# %% [markdown]
# ## Summary
#
# - The overall table ranks the models, but only the intervals and the McNemar tests say
#   whether the test set supports the ranking.
# - Per-class tables and confusion matrices show where each model fails; compare the
#   bangle/bracelet and chain/necklace cells with the thesis's section 5.6.
# - Efficiency, calibration and Grad-CAM go beyond the thesis; all of them are measured here.
# - A model at chance or predicting one class is flagged, and no finding is drawn from it.
# - The balanced experiment repeats the comparison on 200 images per class; both experiments
#   stand side by side with Table 5.1.
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
