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
# - how the VGG16 backbone is combined with the thesis's new classification head, read from
#   the functions that build it;
# - how many parameters the network has as trained, compared with the "≈138M" of the
#   thesis's Table 6.2 (which counts VGG16's original ImageNet classifier layers);
# - how the two training stages work, one step per cell, in the same calls that `jewelnet
#   train` makes: compile, the head alone on a frozen backbone, unfreezing the last eight
#   backbone layers, compiling again at a smaller learning rate, fine-tuning;
# - why stage one can run on cached backbone features, and how few cached views it needs.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Four networks*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); [03 · The
#   custom CNN](03-custom-cnn.ipynb) is useful background
# - **Time to run:** `smoke` 12 s · `cpu` 5 min · `paper` not measured yet
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
    model_title,
    show_figure,
    show_source,
    show_table,
)
from jewelnet_utils.contracts import artifacts, records
from jewelnet_utils.images import synth
from jewelnet_utils.report import evaluate, plots
from jewelnet_utils.run import models, pretrain, train

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
# With `WEIGHTS = "profile"` the `cpu` profile starts VGG16 from our own backbone, pretrained
# without class labels on generated figures (ImageNet weights cannot be downloaded where the
# book is built; see "What pre-training buys" below), the `smoke` profile from random
# initialisation, and the `paper` profile from ImageNet weights, as the thesis does.

# %% [markdown]
# ## Opening the run
#
# From here on the page trains the network in the same steps that `jewelnet train` runs one
# after another: `train.train_model` is nothing but these calls in this order, so the command
# line and this page cannot drift apart. The first step, `open_run`, checks every input before
# anything is written (the split manifest must describe the image folder, the weights must
# exist), decodes the split's images and opens the run folder under `ARTIFACTS`. If a finished
# run with these settings is already there, it comes back marked complete, and every step
# below reads what that run recorded instead of training again; an interrupted run continues
# from its last checkpoint; `RETRAIN = True` starts from scratch.

# %%
run = P.open_run(MODEL, retrain=RETRAIN)
state = ("finished earlier: reopened, nothing will be trained" if run.complete
         else "continues from its last checkpoint" if run.resumed else "new")
print(f"Run folder: {P.rel(run.run_dir)} ({state})")

# %% [markdown]
# ## Building the network
#
# `transfer_model` below serves all three pre-trained networks; `head_layers` is the new
# classifier it puts on top. For VGG16 the image first goes through VGG16's own preprocessing
# (`BackbonePreprocess`: channels reordered to BGR and ImageNet's mean colour subtracted), then
# through the thirteen convolutions without the original classifier (`include_top=False`).
# Global average pooling turns the last 512 feature maps into 512 numbers, and the head maps
# them to the eight classes.

# %%
show_source(models.transfer_model)
show_source(models.head_layers)
print("Source: jewelnet_utils/run/models.py, transfer_model and head_layers")

# %% [markdown]
# `run.build_model()` calls `models.build_model`, which fills in the settings of Table B.1 (a
# run given tuned `hparams` from notebook 07 uses those instead), calls the function above,
# loads the backbone's weights when the run has any, and freezes the backbone for stage one.
# It fixes the random seed first, so every run with this `SEED` starts from the same weights.
# The summary lists the layers at the profile's input size; the backbone appears as one line.

# %%
model = run.build_model()
size = run.cfg["input_size"]
model.summary(line_length=74, expand_nested=False)

# %% [markdown]
# The same network drawn from its layers, input at the top. The backbone is one (shaded) box:
# frozen while the new head learns, partly unfrozen afterwards.

# %%
show_figure(plots.layer_stack(models.layer_summary(model), caption=P.provenance(),
                              title=f"{model_title(MODEL)} at {size} px"))
print(P.provenance("the layer diagram"))

# %% [markdown]
# ## Parameters against the thesis
#
# Our count at the profile's input size, our count at the thesis's input size in both stages,
# and the approximate figure from the thesis's Table 6.2. "Trainable" depends on the stage:
# the frozen backbone's parameters are not updated in stage one.

# %%
thesis_size = models.THESIS_CLAIMS[MODEL]["input_size"]
at_thesis = models.build_model(MODEL, input_size=thesis_size, weights=None)
rows = {
    f"ours, {size} px (stage 1)": models.count_params(model),
    f"ours, {thesis_size} px (stage 1)": models.count_params(at_thesis),
}
models.set_stage(at_thesis, 2)
rows[f"ours, {thesis_size} px (stage 2)"] = models.count_params(at_thesis)
params = pd.DataFrame(rows).T
params.loc["thesis, Table 6.2 (approximate)"] = [models.THESIS_CLAIMS[MODEL]["params"], None, None]
display(params.astype("Int64").astype("string").fillna("—"))
print(P.provenance(f"the {model_title(MODEL)} parameter counts", input_size=size))
del at_thesis

# %% [markdown]
# ## Compiling
#
# Compiling attaches the optimizer, the loss and the metric to the model. All four networks
# use the same function: Adam, categorical cross-entropy on one-hot labels, and accuracy.
#
# Stage one compiles with the profile's learning rate; stage two compiles again, below.

# %%
show_source(train.compile_model)
print("Source: jewelnet_utils/run/train.py, compile_model")

# %% [markdown]
# The thesis's Keras 2 optimizer also had `decay=1e-6`, which divides the rate by
# (1 + decay × updates). Keras 3's Adam has no such argument, and `ReduceLROnPlateau` cannot
# change a learning-rate schedule, so one callback of ours, `train.ThesisProtocol`, owns the
# rate while a stage is fitted: before every update it sets the stage's rate, divided by the
# decay term and multiplied by the plateau factor, which halves whenever the validation loss
# has stopped falling for a few epochs (five in the thesis). The same callback ends a stage
# once the validation accuracy has stopped rising for longer (ten epochs in the thesis), and
# keeps the best epoch's weights. The values this run uses:

# %%
display(pd.Series(run.settings(), name="value", dtype=object).to_frame())
print(P.provenance(f"the {model_title(MODEL)} training settings"))

# %%
train.compile_model(model, run.learning_rate(1), run_eagerly=run.profile.run_eagerly)

# %% [markdown]
# ## Stage one: the head on a frozen backbone
#
# A new head starts from random weights, and its first updates are large and noisy. If the
# backbone could learn at the same time, those updates would flow into it and wear away what
# its weights already encode. So in stage one the backbone is frozen: no layer of it is
# trainable, and only the head learns. `models.freeze_report` counts what trains right now.

# %%
stage1_freeze = models.freeze_report(model)
display(pd.Series(stage1_freeze, name="stage 1").to_frame())
print(P.provenance(f"the {model_title(MODEL)} stage-1 trainability"))

# %% [markdown]
# A frozen backbone returns the same features for the same image in every epoch, so running
# it again each epoch is wasted work. With `feature_cache_views` above zero (the `smoke` and
# `cpu` profiles use one view), stage one runs the backbone once over that many augmented
# copies of each training image, keeps the pooled features, and trains the head alone on them,
# each epoch drawing one cached copy per image. This is much cheaper on a CPU, and it is not
# quite the thesis's procedure: with one view the head sees every training image in a single
# augmented form instead of a fresh one each epoch. The `paper` profile trains stage one
# through the backbone on fresh augmentation, as the thesis does, and
# [notebook 04](04-vgg16.ipynb) measures what the number of views changes. The line below
# says which way this run goes.

# %%
if run.cfg["feature_cache"]:
    print(f"Stage 1 trains the head on cached features: {run.cfg['feature_cache_views']} "
          "augmented view(s) of each training image through the frozen backbone.")
else:
    print("Stage 1 runs every batch through the frozen backbone, freshly augmented each epoch.")

# %% [markdown]
# `fit_stage` calls Keras's `fit` once per epoch with the callback described above. Before
# each epoch it re-seeds every random draw (the order of the images, their augmentation,
# dropout) from the run's seed and the epoch's number, and after it saves a checkpoint; so a
# run that is stopped and resumed ends exactly where an uninterrupted one would. Each class is
# weighted by the inverse of its share of the training images. The epoch log is folded away
# in the book (click to show it).

# %% tags=["hide-output"]
stage1 = run.fit_stage(1, model)

# %%
display(evaluate.epoch_table(stage1))
print(P.provenance(f"the {model_title(MODEL)} stage-1 epochs"))

# %% [markdown]
# ## Stage two: fine-tuning the top of the backbone
#
# Stage two unfreezes the last eight layers of the backbone (Table B.1): in VGG16 these are
# the three convolutions of block four with its pooling, and the three of block five with its
# pooling, the layers whose features are the most specific to ImageNet's classes and so most
# worth adapting. `models.set_stage` unfreezes them; the table compares what trains in each
# stage.

# %%
models.set_stage(model, 2, trainable_tail=run.trainable_tail)
freeze = pd.DataFrame({"stage 1": stage1_freeze, "stage 2": models.freeze_report(model)})
display(freeze)
print(P.provenance(f"the {model_title(MODEL)} trainability in both stages"))

# %% [markdown]
# VGG16 was designed before batch normalisation, so the rule that keeps every
# BatchNormalization layer of the backbone frozen (it matters for ResNet50 and EfficientNetB2)
# has nothing to act on here. The unfrozen tail, counted by layer type, is convolutions and
# pooling; pooling layers have no weights, so only the six convolutions actually learn.

# %%
display(pd.DataFrame(models.tail_layer_types(model, run.trainable_tail)).T)
print(P.provenance(f"the last {run.trainable_tail} {model_title(MODEL)} backbone layers"))

# %% [markdown]
# Stage two compiles again, at the profile's fine-tuning rate: the thesis's text asks for "a
# smaller" rate without giving one, while its tables give 1e-4 for every stage; the appendix
# [Protocol: thesis and ours](../book/protocol.md) gives our reading. Compiling afresh also
# gives the stage a new optimizer, whose moment estimates start from zero. The stage begins
# from the best weights of stage one.

# %%
train.compile_model(model, run.learning_rate(2), run_eagerly=run.profile.run_eagerly)
print(f"Stage 2: learning rate {run.learning_rate(2):g}, at most {run.stage_epochs(2)} epochs")

# %% tags=["hide-output"]
stage2 = run.fit_stage(2, model)

# %%
display(evaluate.epoch_table(stage2))
print(P.provenance(f"the {model_title(MODEL)} stage-2 epochs"))

# %% [markdown]
# ## Finishing the run
#
# `finish` puts the best epoch's weights back into the model (the one with the highest
# validation accuracy, over all stages), predicts the validation and test images with it and
# writes the rest of the run folder: `model.keras`, the predictions, `metrics.json`,
# `timings.json`, and last `config.json` marked complete. The table sums up each stage.

# %%
run_dir = run.finish(model)
record = evaluate.load_run(run_dir)
print(f"Run folder: {P.rel(run_dir)}")
display(evaluate.training_summary(record))
print(P.provenance(f"the {model_title(MODEL)} training stages"))

# %% [markdown]
# ## Learning curves
#
# Loss and accuracy per epoch on the training and validation sets; a vertical line marks
# where stage two (fine-tuning) begins.

# %%
show_figure(plots.training_curves({record.name: record.history},
                                  caption=P.provenance(), title=model_title(MODEL)))
print(P.provenance(f"the {model_title(MODEL)} learning curves"))

# %% [markdown]
# ## A first look at the results
#
# Validation and test accuracy as recorded by the run. These are single numbers without
# uncertainty; [notebook 08](08-evaluation.ipynb) adds confidence intervals, per-class tables
# and paired comparisons between the models.

# %%
metrics = artifacts.read_metrics(run_dir).as_dict()
display(pd.Series(metrics, name="value", dtype=object).to_frame())
print(P.provenance(f"the {model_title(MODEL)} accuracies"))

# %% [markdown]
# ## What pre-training buys
#
# The run above started from the weights its provenance line names. To see what they are worth,
# the same model is trained once more from random initialisation with everything else unchanged
# (profile, split, seed, augmentation, both stages), and the two runs are scored on the same test
# images: each accuracy with its 95 % bootstrap interval, the gain in points, and McNemar's exact
# test on the images only one of the two gets right. The random-init run keeps its own folder,
# `random-init/` under `ARTIFACTS`, and a finished one is reused.

# %%
pretraining = P.pretraining_table([MODEL], retrain=RETRAIN)
if pretraining is None:
    print("This run itself starts from random initialisation, so there is nothing to compare; "
          "set WEIGHTS to 'pretext' or 'imagenet' to see what pre-training buys.")
else:
    show_table(pretraining)
    print(P.provenance(f"the {model_title(MODEL)} runs from these weights and from random "
                       "initialisation"))

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
# source task that shows it no piece of jewelry and none of the eight labels. The source images
# are seventeen geometric figures (lines, zigzags, polygons, stars, crosses, ladders, grids of
# stones, plates, gears, crescents and a few more), each drawn with a texture of its own: a
# plain wire, a link chain, a rope, a ball chain, beads, solid metal or loose stones. The
# backbone learns to name the figure, its texture and its metal. A few of them:

# %%
display(synth.shapes_sheet(per_shape=5, shapes=synth.SHAPE_NAMES[::2]))
print("Generated from JewelSynth's figures (synth.shapes_sheet, data seed 1): every other "
      "shape, five drawings each.")

# %% [markdown]
# How close is this source to the target? Closer than ImageNet is to real photographs, and a
# reader should weigh every number from these backbones with that in mind: the figures are
# drawn by JewelSynth's own renderer, with its metals, lights, backdrops and camera, and from the
# same parts (links, beads, stones) the jewelry is built from. What the source does not contain
# is any of the eight pieces or their arrangement: no band seen at a tilt, no hanging strand,
# no pendant on a chain, nothing on an ear or a nose. So the backbone brings general features
# of these images (edges, strokes, textures, scale) and the eight classes are learned only in
# the two stages above. The cached backbone this run started from, and how well it learned its
# own task on held-out figures:

# %%
source_record = pretrain.record_of_run(record.config)  # None unless it started from one
if source_record is None:
    print(f"This run did not start from a pretext backbone (weights: {P.weights_label}).")
else:
    show_table(pretrain.source_task_table(source_record))
    print(f"Source: {pretrain.describe_record(source_record)}; scored on "
          f"{source_record['source_task']['n']} held-out figures.")

# %% [markdown]
# The recipes we measured on the way, each against the same model from random initialisation
# (a recorded experiment, not rerun here). The first recipes used unlabelled JewelSynth jewelry
# of another seed (its metal, a quarter-turn rotation and the silhouette); none of them reached
# 70 %, which is why the figures replaced them.

# %%
recipe_history = []
for name in ("pretrain-2026-11-28.json", "pretrain-shapes-2026-11-28.json"):
    path = P.root / "results" / name
    if path.is_file():  # a record without provenance is refused in one line
        recipe_record = records.load_record(path, P.rel(path))
        recipe_history.append(pretrain.transfer_table(recipe_record))
        print(f"Source: {P.rel(path)}; {records.describe(recipe_record)}.")
if recipe_history:
    show_table(pd.concat(recipe_history))

# %% [markdown]
# ## Summary
#
# - The network is built exactly from the configuration in `jewelnet_utils/contracts/config.py`; its
#   parameter count is measured, and the thesis's approximate figure is shown beside it.
# - Training is a few calls: build, compile, stage one, `set_stage(model, 2)`, compile
#   again, stage two, `finish`; `jewelnet train` makes the same calls.
# - The run folder written here holds everything the evaluation needs, including the
#   predictions on the validation and test sets.
# - Stage one on cached features is a large saving; the recorded experiment shows what the
#   number of cached views does to accuracy and time.
# - Pre-training is measured, not assumed: the same model from random initialisation is
#   trained beside it and compared on the same test images, with a 95 % interval and McNemar's
#   test.
# - Under the `smoke` profile the numbers only show that the code runs; under `cpu` they show
#   how the architecture behaves on JewelSynth from a backbone pretrained on figures of the same
#   renderer (see [what can and cannot be compared](../book/comparability.md)).
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
# - Every step of fine-tuning on one page: [image classification via fine-tuning with
#   EfficientNet](https://keras.io/examples/vision/image_classification_efficientnet_fine_tuning/)
#   on keras.io.
# - Every work the book cites, in full: [References](../book/references.md).
