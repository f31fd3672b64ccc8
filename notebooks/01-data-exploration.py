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
# # 01 · The data: audit, classes and split
#
# ## Overview
#
# Before any network is trained we look hard at the images. In this notebook you will learn
#
# - how the data set is audited: unreadable files, odd pixel formats, exact and near-duplicate
#   images;
# - how many images each class has, in the shape of Table 4.1 of the thesis, next to the
#   thesis's own counts;
# - what the images look like (a contact sheet per class) and how large they are;
# - how the train / validation / test split is made so that near-duplicates never leak
#   between subsets.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Data*
# - **Earlier notebooks:** none: this is the first
# - **Time to run:** `smoke` 7 s · `cpu` 14 s · `paper` not measured yet
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

from jewelnet_utils import cli
from jewelnet_utils.book import check_params, glue, show_figure, show_table
from jewelnet_utils.contracts import decode
from jewelnet_utils.contracts.utils import read_json
from jewelnet_utils.images import audit
from jewelnet_utils.report import evaluate, plots, recommend
from jewelnet_utils.run import models, train
from jewelnet_utils.split import augment, splitting
from jewelnet_utils.tools import audit_thesis

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
# ## The pipeline at a glance
#
# The thesis builds its system from six modules (its section 3.1). Each lives in the
# `jewelnet_utils` package (its data module in two: the audit and the split); the boxes below
# are drawn from those modules' own descriptions, so the picture changes when the code does.

# %%
THESIS_MODULES = {  # thesis section 3.1 -> our module
    "Data acquisition": audit, "Splitting": splitting,
    "Preprocessing and augmentation": augment, "Model zoo": models,
    "Training": train, "Evaluation": evaluate, "Recommendation": recommend,
}
framework = plots.pipeline_diagram(
    [(f"{name}\n({module.__name__.removeprefix('jewelnet_utils.').replace('.', '/')}.py)",
      module.__doc__.strip().splitlines()[0]) for name, module in THESIS_MODULES.items()],
    title="The six modules and where they live", caption=P.provenance())
glue("framework_diagram", framework)
print("Source: the docstrings of the modules named in each box.")

# %% [markdown]
# The same pipeline as the commands a reader runs, in order (each is also a function the
# notebooks call):

# %%
WORKFLOW = ("synth", "audit", "split", "pretrain", "train", "tune", "evaluate", "recommend")
workflow = plots.pipeline_diagram(
    [(f"jewelnet {name}", cli.COMMANDS[name][0]) for name in WORKFLOW],
    title="From images to recommendations", caption=P.provenance())
glue("workflow_diagram", workflow)
print("Source: the help line of each command in jewelnet_utils/cli/__init__.py.")

# %% [markdown]
# ## The images in use
#
# With `DATA_DIR = None` the profile's JewelSynth set is used; it is generated the first time
# (the `smoke` profile makes a small set, `cpu` and `paper` the thesis's class counts).

# %%
DATA = P.dataset()
print(f"Images: {P.dataset_label()}")

# %% [markdown]
# ## Audit
#
# The audit decodes every file once. Files that cannot be used are listed with the reason;
# greyscale, palette, CMYK, 16-bit and EXIF-rotated images are converted rather than
# rejected and counted below. Images whose perceptual hashes differ by at most a few bits are
# grouped as near-duplicates.

# %%
report = audit.audit_dataset(DATA)
counts = pd.DataFrame(report.counts).T[["files", "usable", "unusable"]]
counts.index.name = "class"
display(counts)
print(P.provenance("the audit counts"))
if not report.usable:
    raise RuntimeError(f"the data cannot be split: {report.problem}")

# %%
findings = pd.Series({
    "unusable files": len(report.unusable),
    "files outside class folders or ignored": len(report.ignored),
    "exact-duplicate groups": len(report.exact_duplicates),
    "near-duplicate groups": len(report.near_duplicates),
    **{f"converted: {kind}": n for kind, n in report.conversions.items()},
}, name="count")
display(findings.to_frame())
for note in report.notes:
    print("note:", note)
if report.ignored:
    display(pd.DataFrame(report.ignored).head(10))
print(P.provenance("the audit findings"))

# %% [markdown]
# ### Image sizes
#
# Photos from different sources come in very different sizes; every model resizes them to its
# input size (see [notebook 02](02-augmentation.ipynb)). The table summarises width and
# height per class.

# %%
sizes = pd.DataFrame([
    {"class": r.class_name, "width": r.width, "height": r.height}
    for r in report.files if r.usable
])
display(sizes.groupby("class")[["width", "height"]].describe()
        .loc[:, (slice(None), ["min", "50%", "max"])].astype(int))
print(P.provenance("the image sizes"))

# %% [markdown]
# ### Near-duplicates
#
# A near-duplicate pair split across training and test would let a model score by memory.
# Perceptual hashes summarise coarse structure, so on product shots with a plain background
# the background alone can make two different pieces match. The audit therefore takes a hash
# match (of the whole frame, or of the object cut out of its background) only as a candidate,
# and counts it when the two objects also agree in shape and colour
# (`jewelnet_utils/images/duplicates.py`). The first few groups are shown here (if any); the split
# below keeps every group inside one subset. `jewelnet audit DATA_DIR --preview sheet.png`
# draws every group, and the matches that were not counted, for you to judge.

# %%
groups = report.near_duplicates[:4]
if groups:
    images, titles = [], []
    for group in groups:
        for rel in group[:3]:
            images.append(decode.load_image(DATA / rel))
            titles.append(rel)
    show_figure(plots.image_grid(images, titles, ncols=3, title="Near-duplicate groups",
                                 caption=P.provenance()))
else:
    print("No near-duplicate groups at this threshold.")
print(P.provenance("the near-duplicate check"))

# %% [markdown]
# How far can that check be trusted? `scripts/near_duplicate_precision.py` plants two
# re-shoots of each of 25 JewelSynth pieces per class, cut out onto plain white (other engraved
# letters, moved, zoomed, relit, saved as JPEG), audits the folder and scores the groups over
# pairs: *precision* is the share of grouped pairs that really show one piece, *recall* the
# share of same-piece pairs that were grouped. The object check's two thresholds were chosen
# on one planted set; the table scores them on another.

# %%
nd_file = P.root / "results" / "near-duplicates.json"
nd_record = read_json(nd_file)
held_out = nd_record["held_out"]
nd_table = pd.DataFrame({"hash alone": held_out["hash_only"],
                         "hash + object check": held_out["confirmed"]}).T
show_table(nd_table[["precision", "recall", "pairs_grouped", "true_pairs_found",
                     "pairs_same_item", "groups_spanning_classes"]])
glue("near_dup_precision", float(held_out["confirmed"]["precision"]), display=False)
glue("near_dup_recall", float(held_out["confirmed"]["recall"]), display=False)
glue("near_dup_hash_precision", float(held_out["hash_only"]["precision"]), display=False)
print(f"Source: {P.rel(nd_file)}, written by `{nd_record['command'].strip()}` on "
      f"{nd_record['date']}; {held_out['images']} planted images (seed {held_out['seed']}).")

# %% [markdown]
# ## The split
#
# The split is stratified per class (70 / 15 / 15, as in the thesis) and written once as a
# manifest. Every later notebook reads the same manifest, so all models see the same images.
# The thesis's counts from its Table 4.1 are shown alongside for comparison; its
# "Augmented" column has no counterpart here because augmentation happens on the fly.

# %%
manifest = splitting.ensure_split(DATA, P.split_path(), seed=P.seed)
files = pd.DataFrame(manifest["files"])
table = pd.crosstab(files["class"], files["split"]).reindex(columns=list(splitting.SPLITS))
table.insert(0, "images", table.sum(axis=1))
table = table.reindex(manifest["classes"])
table.loc["total"] = table.sum()
thesis = pd.DataFrame(audit_thesis.TABLE_4_1, index=audit_thesis.TABLE_4_1_COLUMNS).T
thesis.index = [c.lower().replace(" ", "_") for c in thesis.index]
thesis.loc["total"] = audit_thesis.TABLE_4_1_TOTAL
table = table.join(thesis.add_prefix("thesis "), how="left")
display(table)
print(f"Manifest: {P.rel(P.split_path())} ({len(manifest['skipped'])} files skipped)")
print(P.provenance("the split table"))

# %% [markdown]
# ## Samples per class
#
# A contact sheet of training images, a few per class. For JewelSynth, check that the
# look-alike pairs the thesis names (bangle/bracelet, chain/necklace) really look alike.

# %%
per_class = 6
by_class: dict[str, list] = {}
for entry in manifest["files"]:
    if entry["split"] == "train" and len(by_class.setdefault(entry["class"], [])) < per_class:
        by_class[entry["class"]].append(decode.load_image(DATA / entry["path"]))
show_figure(plots.contact_sheet(by_class, per_class=per_class,
                                title="Training images per class", caption=P.provenance()))
print(P.provenance("the contact sheet"))

# %% [markdown]
# JewelSynth's difficulty settings were calibrated so that the custom CNN behaves on it the way
# the thesis describes its own photos; the appendix
# [How this book was measured](12-appendix-measurement.ipynb) shows the record.
#
# ## Summary
#
# - The audit tells us whether every file is usable and how many near-duplicates exist; the
#   split keeps near-duplicates on one side.
# - The class table has the shape of the thesis's Table 4.1, with the thesis's numbers beside
#   ours. With JewelSynth under the `cpu` or `paper` profile the class counts follow the
#   thesis; under `smoke` the set is deliberately tiny.
# - The split manifest written here is the single source of truth for every later notebook.
#
# ## What's next
#
# [Notebook 02](02-augmentation.ipynb) shows what each augmentation of the thesis's Table 4.2
# does to an
# image before the networks are trained in notebooks 03–06.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - The perceptual hash the audit starts from:
#   [ImageHash](https://github.com/JohannesBuchner/imagehash); the object check that confirms its
#   matches is `jewelnet_utils/images/duplicates.py`.
# - Reading images safely with Pillow: [Pillow's
#   handbook](https://pillow.readthedocs.io/en/stable/handbook/index.html).
# - Every work the book cites, in full: [References](../book/references.md).
