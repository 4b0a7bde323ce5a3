# Two commands matter: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# The suite runs on pytest-xdist workers, one per core, each on a database of its own;
# `make test WORKERS=0` runs it in one process.
WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist worksteal

.PHONY: setup run test test-postgresql lint i18n-check bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Jifen needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/jifen db upgrade
	$(BIN)/jifen seed demo --if-empty
	@echo ""
	@echo "  Jifen is starting on http://127.0.0.1:8000"
	@echo "  Demo accounts (password: demo-password):"
	@echo "    member      a member of 金湾工业园区联合党支部"
	@echo "    secretary   that branch's secretary"
	@echo "    instructor  instructor of 金湾 and two other branches"
	@echo "    admin       the town's organisation office"
	@echo ""
	$(BIN)/jifen serve

test: $(STAMP)
	$(PYTEST)

test-postgresql: $(STAMP)
	JIFEN_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy service web
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_layout.py

# The benchmark (bench/README.md); not part of `make test`. PostgreSQL: DB=postgresql
# (the jifen_bench database on 127.0.0.1, created afresh). Load runs need wrk.
SCALE ?= city
DB ?= sqlite
DURATION ?= 10
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench.run --scale $(SCALE) --db $(DB) --duration $(DURATION) $(BENCH_ARGS)

i18n-check: $(STAMP)
	$(BIN)/python scripts/i18n.py check

clean:
	rm -rf $(VENV) var build *.egg-info
