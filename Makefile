# JewelNet: two commands after cloning, `make book` and `make test`.
# PROFILE=smoke|cpu|paper picks the profile (default cpu); .venv is reused when present.
PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv preflight backbones data notebooks book book-html protocol test lint lock clean times

help:
	@echo "make book [PROFILE=smoke|cpu|paper]  set up, generate data, run notebooks, build the book"
	@echo "make book WEIGHTS=imagenet            the same with ImageNet weights (downloads them once)"
	@echo "make test                             the test suite (what CI runs)"
	@echo "make notebooks PROFILE=P              execute the notebooks with papermill"
	@echo "make preflight PROFILE=P              check weights and accelerator (before notebooks)"
	@echo "make backbones PROFILE=P              pretrain the backbones the profile's weights need (cached)"
	@echo "make protocol                         regenerate book/protocol.md from the code"
	@echo "make times PROFILE=P                  record this build's notebook run times into the notebooks"
	@echo "make lint                             ruff"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# Before any data or notebook: every weights file the profile needs must be reachable, and a
# profile meant for a GPU needs one (or PAPER_ON_CPU=1, after a printed run-time estimate).
PAPER_ON_CPU ?=
# WEIGHTS=imagenet (or none, or a weights file) overrides the profile's default weights in every
# notebook; those runs go to their own folder, artifacts/weights-<name>, beside the default ones.
WEIGHTS ?=
WEIGHTS_ARGS := $(if $(strip $(WEIGHTS)),-p WEIGHTS $(WEIGHTS) -p ARTIFACTS artifacts/weights-$(notdir $(basename $(WEIGHTS))))
preflight: $(STAMP)
	@PAPER_ON_CPU=$(PAPER_ON_CPU) TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m jewelnet_utils.cli preflight --profile $(PROFILE) $(if $(strip $(WEIGHTS)),--weights $(WEIGHTS))

# The backbones the profile's default weights read from the cache (`jewelnet pretrain`): built
# once per machine on the first build (counted in its time), reused by every later build.
# A WEIGHTS override other than pretext needs none.
backbones: preflight
	$(if $(filter-out pretext,$(strip $(WEIGHTS))),@echo "backbones: WEIGHTS=$(WEIGHTS) needs no pretext backbone",$(PY) -m jewelnet_utils.cli pretrain --model $(if $(strip $(WEIGHTS)),all,auto) --profile $(PROFILE))

data: backbones
	$(PY) -m jewelnet_utils.cli synth --ensure --profile $(PROFILE) --experiment all --workers 2

# The appendix "Protocol: thesis and ours" is generated; tests/test_protocol.py fails when the
# committed page differs from what the code would write.
protocol: $(STAMP)
	$(PY) -m jewelnet_utils.cli protocol --write book/protocol.md

lint: $(STAMP)
	$(VENV)/bin/ruff check jewelnet_utils tests notebooks scripts

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v -i '^tensorflow.cpu' > requirements.txt

# ---- notebooks and book (owner: the book) -------------------------------------------------
# `make notebooks` executes notebooks/NN-*.ipynb in order with papermill (cwd notebooks/, the
# venv's python3 kernel), stopping at the first failing cell; executed copies go to
# book/executed/$(PROFILE)/. `make book` then builds the HTML with Jupyter Book 1.x from the
# root _config.yml/_toc.yml into _build/$(PROFILE)/html, warnings as errors. The build's source
# folder _build/$(PROFILE)/src links book/ and the executed notebooks (as notebooks/), so page
# paths match the repository and the Colab/Binder buttons open the committed notebooks.
EXECUTED := book/executed/$(PROFILE)
BOOK_OUT := _build/$(PROFILE)
NOTEBOOK_FILES = $(sort $(wildcard notebooks/[0-9][0-9]-*.ipynb))
NB_ENV = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" JUPYTER_PATH="$(CURDIR)/$(VENV)/share/jupyter" \
	PROFILE=$(PROFILE) MPLBACKEND=Agg PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=3

notebooks: data
	@mkdir -p $(EXECUTED)
	@set -e; total=$$(date +%s); for nb in $(NOTEBOOK_FILES); do \
	  name=$$(basename $$nb); start=$$(date +%s); \
	  echo "== $$name (PROFILE=$(PROFILE))"; \
	  $(NB_ENV) $(PY) -m papermill --cwd notebooks -k python3 --no-progress-bar \
	    -p PROFILE $(PROFILE) $(WEIGHTS_ARGS) $$nb $(EXECUTED)/$$name \
	  || { echo "FAILED: $$name; the executed copy with the error is $(EXECUTED)/$$name"; exit 1; }; \
	  echo "   $$name: $$(( $$(date +%s) - start )) s"; \
	done; echo "all notebooks: $$(( $$(date +%s) - total )) s"

# Records how long each notebook of this build took and writes the measured times into every
# notebook's Prerequisites (scripts/sync_run_times.py); run it after a build you want to publish.
times: $(STAMP)
	$(PY) scripts/sync_run_times.py --record $(PROFILE)

book: notebooks
	$(MAKE) --no-print-directory book-html PROFILE=$(PROFILE)

# Builds the HTML from the executed notebooks already in book/executed/$(PROFILE) (no execution).
book-html: $(STAMP)
	@ls $(EXECUTED)/*.ipynb >/dev/null 2>&1 || { \
	  echo "no executed notebooks in $(EXECUTED); run: make notebooks PROFILE=$(PROFILE)"; exit 2; }
	@# Pages that paste glued values from notebooks must be rewritten on every build, and Sphinx
	@# only rewrites pages whose HTML is missing or older than their source.
	@rm -rf $(BOOK_OUT)/src $(BOOK_OUT)/_build/html && mkdir -p $(BOOK_OUT)/src
	@ln -s "$(CURDIR)/book" $(BOOK_OUT)/src/book
	@ln -s "$(CURDIR)/$(EXECUTED)" $(BOOK_OUT)/src/notebooks
	$(VENV)/bin/jupyter-book build $(BOOK_OUT)/src --config "$(CURDIR)/_config.yml" --toc "$(CURDIR)/_toc.yml" \
	  --path-output $(BOOK_OUT) --warningiserror --keep-going
	@rm -rf $(BOOK_OUT)/html && mv $(BOOK_OUT)/_build/html $(BOOK_OUT)/html
	@echo "book: $(BOOK_OUT)/html/index.html"

clean:
	rm -rf _build book/executed notebooks/_executed

# CI runs exactly this (README, .ci/run): the smoke book is built first because the book tests
# read its HTML; then the whole suite.
test: $(STAMP)
	$(MAKE) book PROFILE=smoke
	$(VENV)/bin/pytest -q
