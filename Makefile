# The two set-up commands: `make demo` opens the TUI on the bundled demo, `make test` runs the
# type checker and every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

TYPES := build/types/cnninterp
PACKAGES := convert export jaxcore tui demo

.PHONY: demo test check install typecheck

$(BIN)/cnninterp-tui: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Keep a torch that is already there; otherwise take the CPU build (a bare `torch` pulls CUDA).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(BIN)/cnninterp-tui

demo: install
	$(BIN)/cnninterp-tui

test: install typecheck
	$(BIN)/python -m pytest -q

check: install typecheck
	$(BIN)/ruff format --check . && $(BIN)/ruff check . && $(BIN)/python -m pytest -q

# mypy over the four packages, under their installed names (see [tool.mypy] in pyproject.toml).
typecheck: install
	rm -rf $(TYPES) && mkdir -p $(TYPES)
	ln -s ../../../cnninterp/__init__.py $(TYPES)/__init__.py
	for p in $(PACKAGES); do ln -s ../../../$$p $(TYPES)/$$p; done
	$(BIN)/mypy -p cnninterp.jaxcore -p cnninterp.convert -p cnninterp.tui -p cnninterp.export
