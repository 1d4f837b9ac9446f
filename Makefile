# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test test-fast venv clean bench fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/symsig report

# The whole suite, slow checks included, on every core (numpy single-threaded per worker).
# Tests that need pdflatex or Chromium skip with the reason when the tool is missing;
# CI (.ci/run) installs both and sets SYMSIG_REQUIRE_TOOLS=1, which turns those skips into failures.
test: $(TSTAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -n auto --dist worksteal -m "(slow or not slow) and not fuzz"

# The quick loop while developing: slow checks deselected (pyproject's default).
test-fast: $(TSTAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -n auto --dist worksteal

bench: $(TSTAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# The generic CLI and API fuzz run in `make test` (derandomized, cheap values); this runs the
# documented valid-but-slow inputs (tests/app/test_fuzz.py EXPENSIVE_VALID), minutes each.
fuzz: $(TSTAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m fuzz tests/app/test_fuzz.py
