# The two set-up commands: `make demo` opens the TUI on the bundled demo, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check install

$(BIN)/cnninterp-tui: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Keep a torch that is already there; otherwise take the CPU build (a bare `torch` pulls CUDA).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(BIN)/cnninterp-tui

demo: install
	$(BIN)/cnninterp-tui

test: install
	$(BIN)/python -m pytest -q

check: install
	$(BIN)/ruff format --check . && $(BIN)/ruff check . && $(BIN)/python -m pytest -q
