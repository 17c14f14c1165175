# Two commands: `make lab` and `make test`. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test test-portable lint figures assignments grade bench setup clean-cache book

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Everything `make test` uses, installed before it runs: .venv, the book's .venv-book and book/node_modules.
setup: $(STAMP)
	$(PY) -m book.build --tools-only

# JupyterLab refuses to start as root (Docker containers, cloud VMs) unless told to: add --allow-root only for
# root. It stays on localhost with its token; from a container, add LAB_ARGS="--ip=0.0.0.0" (docs/teacher-guide.md).
LAB_ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

# `make lab` is a student's lab: lab/student/ (put first on JUPYTER_CONFIG_PATH for this command only, the user's own
# Jupyter config untouched) keeps nbgrader's Validate button and hides its teacher UI: Formgrader, Create Assignment,
# the Assignment and Course lists (they need a course folder or an exchange). `make lab-teacher` shows everything.
STUDENT_LAB_CONFIG = JUPYTER_CONFIG_PATH="$(CURDIR)/lab/student$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}"

lab: $(STAMP)
	$(STUDENT_LAB_CONFIG) $(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) $(LAB_ARGS) notebooks/

.PHONY: lab-teacher
lab-teacher: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) $(LAB_ARGS) notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests notebooks book course tools

test: lint
	$(PY) -m pytest

# The contributor's fast check (CONTRIBUTING.md): lint, the unit tests of helpers, checks and tools, and the hygiene
# of the committed notebooks; no notebook execution, no book build, no browser, no grading (`make test` runs those).
.PHONY: check
check: lint
	$(PY) -m pytest tests -m "not slow and not browser" --durations=5

# After editing one main notebook: make refresh NB=05 (re-tag, redraw its figures, re-execute, student versions).
.PHONY: refresh
refresh: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make refresh NB=05"; exit 2; }
	$(PY) -m tools.refresh "$(NB)"

# Every notebook and the figure tests under other float kernels and thread counts; fails when a claim's margin is
# under 3x its spread between them (docs/portability.md). `.ci/run` runs it after `make test`.
test-portable: $(STAMP)
	$(PY) -m tests.portability.run

figures: $(STAMP)
	$(PY) -m tools.figures

# Student versions by nbgrader's generate_assignment, from the main notebooks' nbgrader metadata.
assignments: $(STAMP)
	$(PY) -m course build

# The students' zip (student notebooks, helpers, images, requirements, a README; no solutions):
# build/handout/vae-notes-handout.zip, or make handout OUT=path.zip
.PHONY: handout
handout: $(STAMP)
	$(PY) -m course handout $(if $(OUT),--out "$(OUT)")

# Autograde with nbgrader: make grade SUBMISSIONS=dir [CSV=grades.csv] [JOBS=N] (dir/<student>/<NN_name>_assignment.ipynb)
CSV ?= grades.csv
JOBS ?= 1
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [CSV=grades.csv] [JOBS=N]"; exit 2; }
	$(PY) -m course grade "$(SUBMISSIONS)" --csv "$(CSV)" --jobs $(JOBS)

# The book: build/book/ (open build/book/index.html). Creates .venv-book and book/node_modules the first time.
book: $(STAMP)
	$(PY) -m book.build --out build/book

bench: $(STAMP)
	$(PY) -m tests.benchmarks.run $(BENCH_ARGS)

clean-cache:
	rm -rf $${VAE_NOTES_CACHE:-$$HOME/.cache/vae-notes}
