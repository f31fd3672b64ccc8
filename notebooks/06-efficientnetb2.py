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
# - how EfficientNetB2 is combined with the head of the thesis's listing C.1, read from the
#   functions that build it;
# - how its parameter count compares with the "≈9M" of the thesis's Table 6.2;
# - how it trains, in two stages, at its larger input size (260 pixels in the `paper`
#   profile), one step per cell, in the same calls that `jewelnet train` makes, with the
#   backbone's batch normalisation kept frozen.
#
# ## Prerequisites
#
# - **Earlier chapters:** [Methodology](../book/04-methodology.md), section *Four networks*
# - **Earlier notebooks:** [01 · The data](01-data-exploration.ipynb) (the split); [05 ·
#   ResNet50](05-resnet50.ipynb) is useful background
# - **Time to run:** `smoke` 29 s · `cpu` 11 min · `paper` not measured yet
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

from jewelnet_utils.book import check_params, model_title, show_figure, show_source, show_table
from jewelnet_utils.contracts import artifacts, records
from jewelnet_utils.report import evaluate, plots
from jewelnet_utils.run import models, pretrain, train

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
# the backbone with a smaller learning rate (section 4.5). The `cpu` profile departs from that
# one number: it fine-tunes the whole backbone, for eight epochs where the other transfer models
# get four, for reasons measured in "Why the `cpu` profile fine-tunes the whole backbone, and
# for longer" below. The 256-unit layer is also the embedding the
# recommender uses in [notebook 09](09-recommendation.ipynb).
#
# With `WEIGHTS = "profile"` the `cpu` profile starts EfficientNetB2 from our own backbone,
# pretrained without class labels on generated figures (see "What pre-training buys" below and
# [notebook 04](04-vgg16.ipynb)), the `smoke` profile from random initialisation, and the
# `paper` profile from ImageNet weights, as the thesis does.

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
# classifier it puts on top. EfficientNetB2 needs no preprocessing outside it: its first
# layers rescale and normalise the raw [0, 255] image. Global average pooling turns the last
# 1,408 feature maps into 1,408 numbers; the head then applies a batch normalisation of its
# own (listing C.1), a dense layer of 512 units with L2 regularisation and dropout 0.5, one of
# 256 units with dropout 0.3, and the softmax. The backbone is called with `training=False`,
# so its batch-normalisation layers always use the running statistics they hold.

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
# In the thesis, stage two unfreezes the last 50 layers of the backbone (section 4.5): in
# Keras's EfficientNetB2 these reach from the end of stage six, through stage seven, to the
# final 1×1 convolution and its normalisation. The profile decides how many layers a run frees,
# and the run records it as `run.trainable_tail`: the `paper` profile keeps the thesis's 50, the
# `cpu` profile frees every layer. `models.set_stage` unfreezes them; the table compares what
# trains in each stage.

# %%
models.set_stage(model, 2, trainable_tail=run.trainable_tail)
backbone_layers = len(models.backbone_of(model).layers)
print(f"Stage 2 frees the last {min(run.trainable_tail, backbone_layers)} of the backbone's "
      f"{backbone_layers} layers.")
freeze = pd.DataFrame({"stage 1": stage1_freeze, "stage 2": models.freeze_report(model)})
display(freeze)
print(P.provenance(f"the {model_title(MODEL)} trainability in both stages"))

# %% [markdown]
# Inside that tail the backbone's BatchNormalization layers stay frozen: `set_stage` skips
# them, and the backbone runs with `training=False`, so neither their scale and offset nor
# their running statistics move. The head's own batch normalisation (`head_bn`) is not part
# of the backbone: it is new, so it learns in both stages. The backbone layers stage two
# frees, counted by type and trainability:

# %%
display(pd.DataFrame(models.tail_layer_types(model, run.trainable_tail)).T)
print(P.provenance(f"the {model_title(MODEL)} backbone layers stage 2 frees"))

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
# ### The backbone this run started from
#
# [Notebook 04](04-vgg16.ipynb) shows the generated figures these backbones learn from, and
# says how close that source sits to JewelSynth's jewelry. How well this backbone learned its
# own task on held-out figures, and what the one-time pretraining cost:

# %%
source_record = pretrain.record_of_run(record.config)  # None unless it started from one
if source_record is None:
    print(f"This run did not start from a pretext backbone (weights: {P.weights_label}).")
else:
    show_table(pretrain.source_task_table(source_record))
    print(f"Source: {pretrain.describe_record(source_record)}; scored on "
          f"{source_record['source_task']['n']} held-out figures.")

# %% [markdown]
# ### Why this backbone pretrains without stochastic depth
#
# Keras's EfficientNet drops whole blocks at random while it trains: each repeated block ends in
# a `Dropout` whose noise covers the entire feature map, so in a training step the block's
# residual branch is either kept or skipped, more often the deeper the block. This "stochastic
# depth" is a regulariser meant for long schedules on large data sets. Our backbone has about
# twenty epochs on a CPU to learn the figures from random weights, and there the extra noise
# mostly slows it down. So the `cpu` profile's recipe switches it off for pretraining, with the
# function below. The classifier built on such a backbone switches it off as well: its blocks
# never learned to be skipped, and skipping them while fine-tuning would hand the head features
# the backbone never produced. `build_model` reads this from the record kept beside the
# backbone file. A classifier that starts from ImageNet weights keeps Keras's default, as the
# thesis's model does, because those weights were trained with it.

# %%
show_source(models.switch_off_stochastic_depth)

# %% [markdown]
# We chose the recipe by measurement, on a GPU that was lent to us for fifteen minutes (a
# recorded experiment, not rerun here). Each line is one variant of the recipe. It shows the
# figure accuracy on the backbone's own training set after each epoch, because the held-out
# probes did not finish in the time we had. A line stops where its run was stopped. The two
# runs of the same recipe (stochastic depth off, batch 16) show how far two runs can differ.
# The `cpu` profile pretrains with the heavy line's settings, but for 20 epochs, to stay inside
# the 20-minute budget. The table above shows what that backbone scores on held-out figures.

# %%
sweep_file = P.root / "results" / "pretrain-effnet-sweep-2026-11-28.json"
if sweep_file.is_file():  # a record without provenance is refused in one line
    sweep = records.load_record(sweep_file, P.rel(sweep_file))
    curves = pretrain.recipe_curves(sweep)
    adopted = next(v for v in curves["variant"] if "batch 32" in v)
    show_figure(plots.recipe_curves(curves, highlight=adopted, caption=P.rel(sweep_file)))
    print(f"Source: {P.rel(sweep_file)}; {records.describe(sweep)}.")

# %% [markdown]
# ### Why the `cpu` profile fine-tunes the whole backbone, and for longer
#
# With the thesis's setting, only the last 50 of the backbone's layers learn the jewelry in
# stage two, and everything below them keeps what it learned from the figures. That is enough
# when the backbone comes from ImageNet, whose lower layers already describe photographs in
# general. Ours learned one narrow task, and its features stop short of what the eight classes
# need. In a measured experiment on this split, with the same backbone, seed and budget, we
# changed only how many backbone layers stage two frees. We trained the model from random
# initialisation the same ways, to check that the gain comes from the backbone and not from the
# larger number of free layers. The table shows the test accuracy and the precision@5 of the
# embedding (the recommender's score in [notebook 09](09-recommendation.ipynb)). Freeing every
# layer costs a little more time per epoch, and the `cpu` profile takes that setting. A whole
# backbone also has more to adapt than its last 50 layers: with four fine-tuning epochs the
# validation accuracy was still climbing when stage two ended, so the last row doubles them,
# and the `cpu` profile gives EfficientNetB2 eight (the other transfer models keep four). The
# run this page trained uses both settings, yet its accuracy ("What pre-training buys" above)
# is not the table's: a book build pretrains the backbone again and trains the classifier
# again, and TensorFlow's CPU kernels do not repeat a run bit for bit. Read the rows as one
# run each. The last row's run time was taken while another job shared the processor, so it
# overstates what eight epochs cost; this page's own time to run, eight epochs included, is in
# its Prerequisites.

# %%
depth_file = P.root / "results" / "effnet-fine-tune-depth-2026-11-28.json"
if depth_file.is_file():  # a record without provenance is refused in one line
    depth = records.load_record(depth_file, P.rel(depth_file))
    depth_rows = pd.DataFrame(depth["rows"])
    show_table(pd.DataFrame({
        "weights": depth_rows["weights"],
        "backbone layers freed in stage 2": depth_rows["backbone_layers_freed"],
        "fine-tuning epochs": depth_rows["stage2_epochs"],
        "test accuracy (%)": (100 * depth_rows["test_accuracy"]).round(1),
        "precision@5": depth_rows["precision_at_5"].round(2),
        "run time (s)": depth_rows["wall_s"],
    }).set_index("weights").rename_axis(None))
    print(f"Source: {P.rel(depth_file)}; {records.describe(depth)}.")

# %% [markdown]
# ## Summary
#
# - The network is built exactly from the configuration in `jewelnet_utils/contracts/config.py`; its
#   parameter count is measured, and the thesis's approximate figure is shown beside it.
# - Training is a few calls: build, compile, stage one, `set_stage(model, 2)` (the backbone's
#   BatchNormalization layers stay frozen), compile again, stage two, `finish`; `jewelnet
#   train` makes the same calls.
# - The run folder written here holds everything the evaluation needs, including the
#   predictions on the validation and test sets.
# - Pre-training is measured, not assumed: the same model from random initialisation is
#   trained beside it and compared on the same test images, with a 95 % interval and McNemar's
#   test.
# - Under the `smoke` profile the numbers only show that the code runs; under `cpu` they show
#   how the architecture behaves on JewelSynth from a backbone pretrained on figures of the same
#   renderer (see [what can and cannot be compared](../book/comparability.md)).
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
# - Every step of fine-tuning on one page: [image classification via fine-tuning with
#   EfficientNet](https://keras.io/examples/vision/image_classification_efficientnet_fine_tuning/)
#   on keras.io.
# - Every work the book cites, in full: [References](../book/references.md).
