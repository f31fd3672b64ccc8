# JewelNet: two commands after cloning, `make book` and `make test`.
# PROFILE=smoke|cpu|paper picks the profile (default cpu); .venv is reused when present.
PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv data notebooks book test lint lock clean

help:
	@echo "make book [PROFILE=smoke|cpu|paper]  set up, generate data, run notebooks, build the book"
	@echo "make test                             the test suite (what CI runs)"
	@echo "make notebooks PROFILE=P              execute the notebooks with papermill"
	@echo "make lint                             ruff"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(PY) -m jewelnet_utils.synth --ensure --profile $(PROFILE)

lint: $(STAMP)
	$(VENV)/bin/ruff check jewelnet_utils tests notebooks

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v -i '^tensorflow.cpu' > requirements.txt

clean:
	rm -rf _build book/executed notebooks/_executed

# CI runs exactly this (README, .ci/run): the smoke book is built first because the book tests
# read its HTML; then the whole suite.
test: $(STAMP)
	$(MAKE) book PROFILE=smoke
	$(VENV)/bin/pytest -q
