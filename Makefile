# CareMatch: the project's verbs. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000
RESIDENTS ?= 20000
# Two workers: CI and developer machines have two cores.
PYTEST_WORKERS ?= 2

.PHONY: demo test check bench docs clean venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

demo: venv  ## set up, build a 20,000-resident synthetic city (once) and serve it
	CAREMATCH_DATA_DIR=$(DATA_DIR) $(BIN)/carematch serve --demo --residents $(RESIDENTS) --host $(HOST) --port $(PORT)

test: venv  ## the whole suite: unit, SQLite, PostgreSQL and browser tests
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

check: venv  ## lint, format and type checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv  ## benchmarks; each prints one JSON line and updates docs/benchmarks.md
	$(BIN)/python bench/bench_generate_ingest.py --residents 100000
	$(BIN)/python bench/bench_generate_ingest.py --residents 1000000 --generate-only
	$(BIN)/python bench/bench_linkage.py --residents 200000
	$(BIN)/python bench/bench_online_link.py --residents 100000
	$(BIN)/python bench/bench_forecast.py
	$(BIN)/python bench/bench_demand_forecast.py
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_allocate.py
	$(BIN)/python bench/bench_recommend.py
	$(BIN)/python bench/bench_cf.py --residents 100000
	$(BIN)/python bench/bench_booking.py
	$(BIN)/python bench/bench_policy_search.py
	$(BIN)/python bench/bench_monitoring_alerts.py
	$(BIN)/python bench/bench_did.py
	$(BIN)/python bench/bench_indicators.py

docs: venv  ## refresh the README screenshot from a real browser
	CAREMATCH_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m browser -k screenshot -p no:xdist

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
