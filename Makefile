# The two commands of the README: `make run` opens the console on the demo clinic,
# `make test` runs the tests. Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean-demo bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/medjobs --config config.yaml demo --if-empty
	$(BIN)/medjobs --config config.yaml

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

clean-demo:
	rm -rf data/medjobs.db* data/demo-users.txt data/backups data/logs evidence/jobs evidence/selftest

# The bench suite (not part of `make test`): handlers at 50, 1,000 and 10,000 patients, the SQLite floor,
# engine vs Huey; table on stdout, bench/results/latest.json. BENCH_ARGS=--sizes 50,1000 for a quicker run.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/suite.py $(BENCH_ARGS)
