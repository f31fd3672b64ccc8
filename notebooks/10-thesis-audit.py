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
# # 10 · An audit of the thesis's own numbers
#
# ## Overview
#
# Tables in a thesis are usually read, not recomputed. Here we recompute everything that can
# be derived from the thesis's tables alone, without any data or training. You will learn
#
# - whether the macro averages of Tables 5.2 and 5.3 are the means of their per-class rows,
#   and whether they agree with Table 5.1;
# - whether each reported accuracy is a possible fraction *k/N* for the stated test-set size
#   (185 images, Table 4.1) and for the balanced 1,600-image experiment (15% of 1,600 = 240);
# - which class sizes the reported recalls imply, compared with the split in Table 4.1;
# - which model accuracies could share one test set, and whether one did;
# - whether the false negatives and false positives of Table 5.3 balance, as they must;
# - whether the "Augmented" column of Table 4.1 is ten times the training column, as the text
#   says, or a multiple of something else;
# - whether the custom CNN of Table 4.3 has the "≈5M" parameters claimed in Table 6.2, counted
#   both by arithmetic and by building the model.
#
# Each check is a table whose last column is a verdict. The thesis's numbers are transcribed,
# with the table and line they come from, in `jewelnet_utils/tools/audit_thesis.py`; the arithmetic
# there is covered by `tests/test_audit_thesis.py`.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Results](../book/05-results.md) and
#   [Discussion](../book/06-discussion.md)
# - **Earlier notebooks:** none: this notebook needs neither data nor trained models
# - **Time to run:** `smoke` 5 s · `cpu` 6 s · `paper` not measured yet
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

from jewelnet_utils.book import check_params, glue
from jewelnet_utils.contracts import thesis
from jewelnet_utils.run import models
from jewelnet_utils.tools import audit_thesis as audit

pd.set_option("display.max_colwidth", 80)

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
# The checks below use only the thesis's tables; the profile, data and weights do not
# influence them, except for the one model built in the last section (random weights, no
# training). A printed value stands for any true value within half a unit of its last digit,
# and every tolerance below is derived from that.


# %%
def verdicts(rows: list[dict], source: str) -> None:
    """Show one check's rows and say where its numbers come from."""
    display(pd.DataFrame(rows))
    print(f"{audit.summary(rows)}. Source: {source}.")


# %% [markdown]
# ## Macro averages against the per-class rows
#
# A macro average is the plain mean over the eight classes, so it can be recomputed from the
# per-class rows. A difference of up to one unit in the fourth decimal is explained by
# rounding. The overall accuracy of Table 5.1 is not a mean of one-versus-rest accuracies, so
# the accuracy row is compared with Table 5.1 separately below.

# %%
print("Custom CNN: Table 5.2 rows against its macro row and Table 5.1")
verdicts(audit.check_macro_averages(audit.TABLE_5_2, audit.TABLE_5_2_MACRO,
                                    audit.TABLE_5_1["Custom CNN"]),
         f"{audit.SOURCES['TABLE_5_2']}, {audit.SOURCES['TABLE_5_1']}")

# %%
print("EfficientNetB2: Table 5.3 rows against its macro row and Table 5.1")
verdicts(audit.check_macro_averages(audit.TABLE_5_3, audit.TABLE_5_3_MACRO,
                                    audit.TABLE_5_1["EfficientNetB2"]),
         f"{audit.SOURCES['TABLE_5_3']}, {audit.SOURCES['TABLE_5_1']}")

# %% [markdown]
# ### One-versus-rest accuracy and overall accuracy
#
# Every wrong prediction is a false negative for the true class and a false positive for the
# predicted class. With eight classes, the mean one-versus-rest accuracy *a* and the overall
# accuracy *A* are therefore tied by *A = 1 − 4 (1 − a)*, which lets Table 5.2's accuracy
# column be checked against Table 5.1.

# %%
verdicts(audit.check_ovr_accuracy(audit.TABLE_5_2, audit.TABLE_5_1["Custom CNN"]["accuracy"]),
         f"{audit.SOURCES['TABLE_5_2']}, {audit.SOURCES['TABLE_5_1']}")

# %% [markdown]
# ### F1 and FNR row by row
#
# Within each row, F1 must be the harmonic mean of precision and recall, and FNR must be
# 1 − recall.

# %%
verdicts(audit.check_rate_identities(audit.TABLE_5_2), audit.SOURCES["TABLE_5_2"])
verdicts(audit.check_rate_identities(audit.TABLE_5_3), audit.SOURCES["TABLE_5_3"])

# %% [markdown]
# ## Are the accuracies possible for the test-set sizes?
#
# On *N* test images a model can only score *k/N*. For each accuracy in Table 5.1 the table
# lists the fractions that print as the reported value, for the test split of Table 4.1
# (185 images) and for the balanced experiment of section 3.1 (15% of 1,600).

# %%
balanced = audit.balanced_split_sizes()
sizes = [audit.TABLE_4_1_TOTAL[3], balanced["test"]]
accuracies = {name: row["accuracy"] for name, row in audit.TABLE_5_1.items()}
verdicts(audit.check_accuracy_denominators(accuracies, sizes),
         f"{audit.SOURCES['TABLE_5_1']}, {audit.SOURCES['TABLE_4_1']}, section 3.1")

# %% [markdown]
# ### Were the four models scored on one test set?
#
# If they were, one *N* would reproduce all four accuracies. The table below lists, for each
# model, every *N* from 100 to 400 that fits its accuracy, and in its last row the sizes that
# fit all four at once.

# %%
verdicts(audit.check_shared_test_size(accuracies, range(100, 401)), audit.SOURCES["TABLE_5_1"])

# %% [markdown]
# Three of the accuracies share one size, just above 15% of the balanced 1,600-image
# experiment; EfficientNetB2's accuracy does not fit that size, and its row lists the sizes it
# does fit. Read together, Table 5.1 compares models that were not all scored
# on the same images, so its ranking is weaker evidence than it looks.
#
# The per-class accuracies of Table 5.2 are one-versus-rest accuracies over the whole test
# set, so each must also be some *k/N* for the same *N*.

# %%
verdicts(audit.check_per_class_accuracy(audit.TABLE_5_2, sizes), audit.SOURCES["TABLE_5_2"])

# %% [markdown]
# ### Which test-set sizes would fit?
#
# Searching every *N* from 100 to 400 for the sizes that reproduce all of a table's
# accuracies at once.

# %%
search = range(100, 401)
fits = {
    "Table 5.2, all eight per-class accuracies":
        audit.fitting_test_sizes([r["accuracy"] for r in audit.TABLE_5_2.values()], search),
    **{f"Table 5.1, {name}": audit.denominators_matching(acc, search)
       for name, acc in accuracies.items()},
}
display(pd.DataFrame({"values": list(fits),
                      "test sizes N in 100-400 that fit": [", ".join(map(str, v)) or "none"
                                                           for v in fits.values()]}))
print(f"Source: {audit.SOURCES['TABLE_5_1']}, {audit.SOURCES['TABLE_5_2']}.")

# %% [markdown]
# ## Class sizes implied by the recalls
#
# Recall is *correct / class size*, so a printed recall limits the possible class sizes. For
# EfficientNetB2 (Table 5.3) we compare them with the test column of Table 4.1; for the
# custom CNN (Table 5.2) with the 30 images per class of a balanced 240-image test set.
# A recall of 1 fits any size.

# %%
test_column = {name: row[3] for name, row in audit.TABLE_4_1.items()}
verdicts(audit.check_supports(audit.TABLE_5_3, test_column, range(5, 61), "Table 4.1 test"),
         f"{audit.SOURCES['TABLE_5_3']}, {audit.SOURCES['TABLE_4_1']}")
per_class_balanced = {name: balanced["test"] // len(audit.CLASS_ORDER)
                      for name in audit.CLASS_ORDER}
verdicts(audit.check_supports(audit.TABLE_5_2, per_class_balanced, range(5, 61),
                              "balanced test"),
         f"{audit.SOURCES['TABLE_5_2']}, section 3.1")

# %% [markdown]
# ## Do the misses and the false alarms balance?
#
# Every wrong prediction is a false negative of its true class and a false positive of the
# class it was taken for, so across one confusion matrix the two totals are equal. Recall
# (*TP/n*) and precision (*TP/(TP+FP)*) share *TP*, so each class's printed pair allows only a
# few integer counts. The table lists them for class sizes up to 40 images (Table 4.1's test
# classes hold 21 to 25), and the last row compares the possible totals.

# %%
verdicts(audit.check_error_balance(audit.TABLE_5_3), audit.SOURCES["TABLE_5_3"])
verdicts(audit.check_error_balance(audit.TABLE_5_2), audit.SOURCES["TABLE_5_2"])

# %% [markdown]
# For EfficientNetB2 every class's counts are fixed by its recall and precision, and the totals
# differ, so no confusion matrix of that size produces Table 5.3 as printed. Table 5.2's rows
# leave enough freedom for the totals to meet.
#
# ## Table 4.1: sums, split ratios and augmented counts
#
# Rows must add up and the split should follow 70 / 15 / 15 to within one image per class.

# %%
verdicts(audit.check_table_4_1_sums(), audit.SOURCES["TABLE_4_1"])
verdicts(audit.check_split_ratios(), audit.SOURCES["TABLE_4_1"])

# %% [markdown]
# The text describes the augmented set as the training set enlarged about tenfold. The first
# table below tests that reading (ten times "Train"); the second tests a multiple of the whole
# class, training, validation and test images together.

# %%
verdicts(audit.check_augmented_counts(), audit.SOURCES["TABLE_4_1"])
verdicts(audit.check_augmented_factor(), audit.SOURCES["TABLE_4_1"])

# %% [markdown]
# The column is an exact multiple of the whole class in every row, and only close to ten times
# the training split. The natural reading is that every image of a class, validation and test
# images included, went through augmentation. If the augmented copies of validation and test
# images were trained on, or scored, the reported accuracies would be optimistic; the thesis
# does not say which, so this is a question to put to its author, not a verdict on the results.

# %% [markdown]
# ## Table 6.1: the comparison with earlier studies
#
# Table 6.1 lists earlier jewelry and gemstone studies beside the thesis's own results and
# concludes that the thesis surpasses them. The table as printed:

# %%
prior_work = pd.DataFrame([{"Study": s.study, "Task": s.task, "Data": s.dataset,
                            "Model(s)": s.models, "Accuracy": s.accuracy}
                           for s in thesis.TABLE_6_1]).set_index("Study").rename_axis(None)
glue("table_6_1", prior_work)
print(f"Source: {audit.SOURCES['TABLE_6_1']}.")

# %% [markdown]
# Two accuracies rank two methods only when both were measured on the same task and the same
# test images. Each earlier row is checked for both against the thesis's own rows.

# %%
verdicts(audit.check_prior_work_comparability(), audit.SOURCES["TABLE_6_1"])

# %% [markdown]
# ## The custom CNN's size: Table 4.3 against Table 6.2
#
# First, the output shapes printed in Table 4.3 follow from unpadded 3×3 convolutions and 2×2
# pooling. Then the parameter count of that network at 224 pixels, by arithmetic under three
# readings of the table and by building our implementation, against the "≈5M" of Table 6.2.
# A count within 25% of the claim is taken as consistent with "≈".

# %%
verdicts(audit.check_table_4_3_shapes(), audit.SOURCES["TABLE_4_3"])

# %%
side = audit.TABLE_4_3["input_size"]  # the input Table 4.3 prints
built = models.build_model("custom_cnn", input_size=side, weights=None)
count = models.count_params(built)["total"]
verdicts(audit.check_custom_cnn_size(built=count),
         f"{audit.SOURCES['TABLE_4_3']}, {audit.SOURCES['TABLE_6_2']}")
print(P.provenance("the built model's parameter count", input_size=side))

# %% [markdown]
# ## Summary
#
# - Table 4.1's rows and columns add up and the split follows 70 / 15 / 15. The "Augmented"
#   column is an exact multiple of each whole class, not ten times its training split, which
#   points to validation and test images having been augmented too.
# - The macro averages of Table 5.2 match their rows; for Table 5.3 some do not, and its
#   macro FPR differs from the FPR Table 5.1 gives for the same model.
# - None of Table 5.1's accuracies is a possible score on the 185-image test set or on a
#   240-image balanced test set (the two sizes tried). The size search shows that three of them
#   fit one test set and EfficientNetB2's does not, so the four were not scored on one set.
# - Table 5.3's false negatives and false positives cannot balance at any class size up to 40.
# - No earlier study in Table 6.1 shares the thesis's task and data, so its ranking compares
#   results on different problems.
# - The custom CNN described in Table 4.3 is several times larger than the "≈5M" of Table 6.2.
#
# What these findings mean, and what they do not mean, is discussed in the
# [Discussion](../book/06-discussion.md) chapter.
#
# ## What's next
#
# The [appendix](11-appendix-hyperparameters.ipynb) lists every hyperparameter of every
# profile, generated from the configuration.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - How the audit reads the thesis: its tables are quoted with their numbers, and each check is a
#   function in `jewelnet_utils/tools/audit_thesis.py`.
# - Every work the book cites, in full: [References](../book/references.md).
