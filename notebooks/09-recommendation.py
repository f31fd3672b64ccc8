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
# # 09 · Recommending similar jewelry
#
# ## Overview
#
# A classifier's last hidden layer summarises an image in a few hundred numbers. Images whose
# summaries point in similar directions tend to look alike, which is enough for a simple
# "more like this" recommender. The thesis's section 5.8 builds one on EfficientNetB2's
# 256-unit layer with cosine similarity. In this notebook you will learn
#
# - how a catalogue is embedded and indexed for cosine top-K search;
# - what recommendations for one query per class look like;
# - how same-class and different-class similarities are distributed, tested against the
#   thesis's statement that same-class pairs exceed 0.92 and different-class pairs stay below
#   0.75;
# - how to score a recommender with precision@K and mean average precision.
#
# ## Prerequisites
#
# - **Earlier chapters:** [System design](../book/03-system-design.md);
#   [Results](../book/05-results.md), section *Recommendation*
# - **Earlier notebooks:** [06 · EfficientNetB2](06-efficientnetb2.ipynb) (or the notebook of the
#   model named in `EMBED_MODEL`)
# - **Time to run:** `smoke` 13 s · `cpu` 43 s · `paper` not measured yet
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

from IPython.display import display

from jewelnet_utils.book import (
    check_params,
    glue,
    model_title,
    show_figure,
    show_table,
    show_warnings,
)
from jewelnet_utils.contracts import artifacts, decode
from jewelnet_utils.contracts.config import MODELS
from jewelnet_utils.report import evaluate, plots, recommend
from jewelnet_utils.split import splitting

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
EMBED_MODEL = "efficientnetb2"  # whose embedding layer to use (the thesis: EfficientNetB2)
TOP_K = 5

# %%
P = check_params(PROFILE=PROFILE, DATA_DIR=DATA_DIR, WEIGHTS=WEIGHTS, SEED=SEED,
                 ARTIFACTS=ARTIFACTS)
print(P.provenance())

# %% [markdown]
# ## The embedding model and the catalogue
#
# The training images play the role of a shop's catalogue; test images play the role of
# photos a customer uploads. Embeddings are L2-normalised, so the dot product of two of them
# is their cosine similarity.

# %%
run_dir = P.run_dir(EMBED_MODEL)
if not artifacts.is_finished(run_dir):
    raise RuntimeError(f"no finished {EMBED_MODEL} run at {run_dir}; run its notebook first")
model, run_config = evaluate.load_run_model(run_dir)
size = recommend.model_input_size(model, run_config)
index = recommend.EmbeddingIndex.from_catalog(model, P.split_path(), split="train",
                                              data_dir=P.dataset(), input_size=size)
glue("embed_model", model_title(EMBED_MODEL), display=False)
print(f"{len(index)} catalogue images embedded in {index.dim} dimensions "
      f"by {model_title(EMBED_MODEL)} ({index.backend} search)")
show_warnings({f"the {model_title(EMBED_MODEL)} embedding":
               recommend.embedding_collapse(index.embeddings, index.labels) or ""},
              "The galleries and retrieval scores below then describe noise, and the thesis's "
              "similarity claims are not tested.")
print(P.provenance("the catalogue index", embedding=model_title(EMBED_MODEL)))

# %% [markdown]
# ## Recommendations for one query per class
#
# The first test image of each class, followed by its top matches in the catalogue with their
# class and cosine similarity.

# %%
manifest = splitting.load_manifest(P.split_path())
queries = {}
for entry in manifest["files"]:
    if entry["split"] == "test":
        queries.setdefault(entry["class"], entry["path"])
query_images, rows = [], []
for cls, rel in queries.items():
    image = decode.load_image(P.dataset() / rel)
    hits = index.query(image, k=TOP_K)
    query_images.append((image, plots.display_name(cls)))
    rows.append([(decode.load_image(index.root / h.path), h.cls, h.score)
                 for h in hits])
show_figure(plots.gallery(query_images, rows, caption=P.provenance(),
                          title=f"Top-{TOP_K} catalogue matches ({model_title(EMBED_MODEL)})"))
print(P.provenance("the recommendation gallery", embedding=model_title(EMBED_MODEL)))

# %% [markdown]
# ## One call: a customer's photo
#
# The thesis's inference flow for an uploaded photo names its class first, with the model's
# probability, and then shows the most similar catalogue items. `recommend_photo` does both with
# one forward pass of the classifier (the same call serves `jewelnet recommend` on the command
# line). Here the photo is a test image the model has never seen.

# %%
photo = P.dataset() / queries[next(iter(queries))]
answer = recommend.recommend_photo(model, run_config["classes"], index,
                                   decode.load_image(photo), size, k=TOP_K)
print(f"{photo.name}: predicted {answer.predicted} with probability {answer.probability:.2f}")
show_figure(plots.gallery(
    [(decode.load_image(photo), f"predicted {answer.predicted} ({answer.probability:.2f})")],
    [[(decode.load_image(index.root / h.path), h.cls, h.score) for h in answer.hits]],
    caption=P.provenance(), title=f"One photo, its class and its top-{TOP_K} matches"))
print(P.provenance("the one-call recommendation", embedding=model_title(EMBED_MODEL)))

# %% [markdown]
# ## How similar are same-class and different-class images?
#
# All pairs of catalogue images, split by whether both images share a class. The dashed lines
# mark the thesis's two thresholds; the table says whether each claim holds for every pair.

# %%
stats = recommend.similarity_stats(index.embeddings, index.labels)
display(stats.round(4))
# The chapter's copy: counts with separators, and a verdict short enough for the column (the
# full reason for an untested claim stands in the table above).
claims = stats[["pairs", "min", "median", "max", "thesis claim", "claim holds"]].round(3)
claims["pairs"] = claims["pairs"].map("{:,}".format)
claims["claim holds"] = claims["claim holds"].map(
    lambda verdict: verdict if isinstance(verdict, bool) else str(verdict).split(":")[0])
glue("similarity_claims", claims, display=False)
intra, inter = recommend.pairwise_similarities(index.embeddings, index.labels)
show_figure(plots.similarity_histogram(intra, inter, caption=P.provenance()))
print(P.provenance("the similarity distributions", embedding=model_title(EMBED_MODEL)))

# %% [markdown]
# ### Which classes sit close together?
#
# Cosine similarity between class centroids. High off-diagonal values flag classes the
# embedding keeps close; the thesis's suspects are bangle/bracelet and chain/necklace.

# %%
display(recommend.class_similarity(index.embeddings, index.labels, index.classes).round(3))
print(P.provenance("the class-centroid similarities", embedding=model_title(EMBED_MODEL)))

# %% [markdown]
# ## Retrieval quality
#
# Each catalogue image queries all the others (leaving itself out); a match is relevant when it
# has the query's class. Precision@K is the share of relevant items among the top K; average
# precision also rewards ranking relevant items first. The thesis reports no such measure.

# %%
quality = recommend.retrieval_quality(index.embeddings, index.labels, index.classes, k=TOP_K)
display(quality.round(4))
overall = quality.set_index("class").loc["Overall"]
glue("precision_at_k", f"{overall[f'precision@{TOP_K}']:.2f} (K = {TOP_K})", display=False)
glue("map_at_k", f"{overall[f'mAP@{TOP_K}']:.2f}", display=False)
print(P.provenance("the retrieval quality", embedding=model_title(EMBED_MODEL), k=TOP_K))

# %% [markdown]
# ## Which model's embedding retrieves best?
#
# The thesis builds its recommender on EfficientNetB2, but every model in this book ends in the
# same kind of `embedding` layer before its classifier, so any of them could serve. The table
# below scores each finished run's embedding on the same catalogue with the same leave-one-out
# precision@K and mAP@K, and says which weights each run started from.

# %%
finished_runs = [P.run_dir(m) for m in MODELS if artifacts.is_finished(P.run_dir(m))]
by_model = recommend.retrieval_by_model(finished_runs, P.split_path(), P.dataset(), k=TOP_K)
retrieval_table = (by_model.assign(model=by_model["model"].map(model_title),
                                   warning=by_model["warning"].map(bool).map(
                                       {True: "collapsed", False: ""}))
                   .set_index("model").rename_axis(None).round(3))
show_table(retrieval_table)
glue("retrieval_by_model", retrieval_table, display=False)
print(P.provenance("the retrieval scores of every model", k=TOP_K))

# %% [markdown]
# ## Summary
#
# - A trained classifier doubles as an embedding model; cosine top-K search over a catalogue is
#   a few lines on top of it.
# - The thesis's two thresholds are single numbers; the distributions show how much same-class
#   and different-class similarities overlap, which is what decides recommendation quality.
# - Precision@K and mAP@K turn "the recommendations look right" into numbers that can be
#   compared between embedding models (set `EMBED_MODEL` to try another network).
#
# ## What's next
#
# [Notebook 10](10-thesis-audit.ipynb) checks the thesis's own tables for internal consistency.

# %% [markdown]
# ## Resources and references
#
# - J. F. Nishi and M. M. Billa, *JewelNet: A Custom CNN and Transfer Learning-Based Approach for
#   Fine-Grained Jewelry Classification*, undergraduate thesis, Independent University,
#   Bangladesh, 2026: <https://ar.iub.edu.bd/handle/11348/1166>
# - J. Johnson, M. Douze and H. Jégou, Billion-scale similarity search with GPUs, IEEE
#   Transactions on Big Data 7 (2021): <https://arxiv.org/abs/1702.08734>
# - Choosing a FAISS index: [the FAISS wiki](https://github.com/facebookresearch/faiss/wiki).
# - Every work the book cites, in full: [References](../book/references.md).
