# The two commands a newcomer needs: `make demo` and `make test` (both set up .venv/ first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test test-unit test-workflow lint clean-demo

$(BIN)/snakemake: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

setup: $(BIN)/snakemake  ## create .venv/ with the pinned environment

demo: setup  ## run the embedded offline demo end to end (results/, logs/, benchmarks/)
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

test: setup  ## fast unit tests, then the workflow tests (Snakemake end to end, SLURM)
	$(BIN)/pytest tests/unit -q -n $(CORES)
	$(BIN)/pytest tests/workflow -q

lint: setup
	$(BIN)/ruff check workflow tests
	$(BIN)/snakefmt --check Snakefile workflow/rules
