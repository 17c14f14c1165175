# Two commands: `make lab` and `make test`. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test lint figures assignments bench setup clean-cache book

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# JupyterLab refuses to start as root (Docker containers, cloud VMs) unless told to: add --allow-root only for
# root. It stays on localhost with its token; from a container, add LAB_ARGS="--ip=0.0.0.0" (see README).
LAB_ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) $(LAB_ARGS) notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests notebooks book

test: lint
	$(PY) -m pytest

figures: $(STAMP)
	$(PY) -m helpers.figures

assignments: $(STAMP)
	$(PY) -m helpers.assignments build

# The book: build/book/ (open build/book/index.html). Creates .venv-book and book/node_modules the first time.
book: $(STAMP)
	$(PY) -m book.build --out build/book

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run $(BENCH_ARGS)

clean-cache:
	rm -rf $${VAE_NOTES_CACHE:-$$HOME/.cache/vae-notes}
