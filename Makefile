# The two set-up commands: `make demo` opens the TUI on the bundled demo, `make test` runs every
# check (ruff, the type checker, every test); CI runs it (.ci/run). For daily work,
# `make test-fast` runs the tests that need no full-size compilation (those marked `slow` wait
# for `make test`).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

TYPES := build/types/cnninterp
PACKAGES := convert export jaxcore tui demo

.PHONY: demo test test-fast check lint install typecheck

$(BIN)/cnninterp-tui: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Keep a torch that is already there; otherwise take the CPU build (a bare `torch` pulls CUDA).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "torch==2.13.0"
	# torchvision (a dev dependency) must match that torch: pin torch to what is installed.
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/torch-pin.txt
	$(BIN)/pip install -c $(VENV)/torch-pin.txt -e ".[dev]"
	touch $@

install: $(BIN)/cnninterp-tui

demo: install
	$(BIN)/cnninterp-tui

# Test processes: two keep a 2-core machine busy; each takes up to 5 GB. A file's tests stay in
# one process (--dist loadfile), so its module fixtures compile once.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: install lint typecheck
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

# The former name of `make test`.
check: test

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# mypy over the packages, under their installed names (see [tool.mypy] in pyproject.toml).
typecheck: install
	rm -rf $(TYPES) && mkdir -p $(TYPES)
	for f in cnninterp/*.py; do ln -s ../../../$$f $(TYPES)/; done
	for p in $(PACKAGES); do ln -s ../../../$$p $(TYPES)/$$p; done
	$(BIN)/mypy -p cnninterp.jaxcore -p cnninterp.convert -p cnninterp.tui -p cnninterp.export -p cnninterp.demo -m cnninterp.frontend
