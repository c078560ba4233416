# Everything runs from the project's own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install dev test lint fmt migrate seed clean container-test bench bench-quick fuzz soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)
dev: $(DEV_STAMP)

migrate: $(STAMP)
	$(BIN)/policy-tracker migrate

seed: migrate
	$(BIN)/policy-tracker seed

run: seed
	$(BIN)/policy-tracker serve --host $(HOST) --port $(PORT)

test: $(DEV_STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# alembic check compares the models with a database migrated to head, on both kinds.
CHECK_DB := data/alembic-check.db
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	rm -f $(CHECK_DB) && mkdir -p data
	TRACKER_DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/alembic upgrade head
	TRACKER_DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/alembic check
	$(BIN)/python -m tests.pg_check $(BIN)/alembic

fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Builds the image with podman from a debootstrapped base and runs it (SQLite, PostgreSQL).
container-test:
	bash tests/container/run.sh

# Longer fuzzing of the whole OpenAPI surface (FUZZ_EXAMPLES examples per operation).
FUZZ_EXAMPLES ?= 200
fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py -p no:cacheprovider $(PYTEST_ARGS)

# Benchmarks against Datasette and the framework's ceiling (bench/README.md); wrk from Debian.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@ $(STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

# Bounded mixed read/search/write load on loopback; 60 s, 32 clients by default
# (SOAK_ARGS="--duration 300 --workers 2", or --database-url for PostgreSQL).
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
