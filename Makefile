# The two commands a newcomer needs: `make demo` and `make test` (both set up .venv/ first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test test-unit test-workflow lint clean-demo serve

# Every package, transitive ones included, from the lock: pinned versions, checked hashes.
$(BIN)/snakemake: requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	touch $@

# The package itself, editable, with its `unitpsych` command (offline: no dependencies, no build env).
$(BIN)/unitpsych: pyproject.toml $(BIN)/snakemake
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

UI := workflow/ui

$(UI)/node_modules/.package-lock.json: $(UI)/package-lock.json
	cd $(UI) && npm ci --no-audit --no-fund --loglevel=error

setup: $(BIN)/snakemake $(BIN)/unitpsych $(UI)/node_modules/.package-lock.json  ## create .venv/ from requirements.lock and the `unitpsych` command; jsPsych for the experiment page

demo: setup  ## run the embedded offline demo end to end (results/, logs/, benchmarks/), then its report
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --report results/report.html

test: setup lint  ## lint, fast unit tests, then the workflow tests (Snakemake end to end, SLURM, browser)
	bash tests/setup_browser.sh
	$(BIN)/pytest tests/unit -q -n $(CORES)
	bash tests/setup_slurm.sh
	$(BIN)/pytest tests/workflow -q

serve: setup  ## serve results/experiments to participants (docs/server.md)
	$(BIN)/unitpsych serve $(SERVE_ARGS)

lint: setup  ## ruff (lint and format), snakefmt and Snakemake's linter (the paper config, in a scratch folder)
	$(BIN)/ruff check workflow tests
	$(BIN)/ruff format --check workflow tests
	$(BIN)/snakefmt --check Snakefile workflow/rules
	scratch=$$(mktemp -d) && $(BIN)/snakemake --lint --snakefile Snakefile --directory "$$scratch"; \
		status=$$?; rm -rf "$$scratch"; exit $$status
