# The few commands everyone runs. `make demo` and `make test` work on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-fast lint security format bench assets migrate clean

# The bridge package (bridge/) holds the extract readers and validation the platform imports; its
# own dependencies are in the lock, so it goes in without them and the lock stays the authority.
$(VENV)/.base-installed: requirements/base.lock bridge/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.lock
	$(PY) -m pip install --quiet --no-deps -e ./bridge
	touch $@

$(VENV)/.dev-installed: requirements/dev.lock $(VENV)/.base-installed
	$(PY) -m pip install --quiet -r requirements/dev.lock
	touch $@

# Benchmark-only packages (Splink, DuckDB, pandas): never in the app's runtime or CI's tests.
$(VENV)/.bench-installed: requirements/bench.lock $(VENV)/.dev-installed
	$(PY) -m pip install --quiet -r requirements/bench.lock
	touch $@

# --ignore-scripts: every package ships built files; none needs to run code as it installs.
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

build/frontend/.built: node_modules/.installed scripts/build-frontend
	./scripts/build-frontend
	touch $@

assets: build/frontend/.built

migrate: $(VENV)/.base-installed
	$(PY) manage.py migrate --no-input

demo: $(VENV)/.base-installed assets migrate
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py load_demo
	SHAREHUB_REQUIRE_OTP=false $(PY) manage.py runserver $(HOST):$(PORT)

# The suite in one test process per core (pytest-xdist), at most 4: each has its own test
# database (test_sharehub_gw0, ...), Chromium, live server and Celery queue (tests/workers.py).
# PYTEST_WORKERS=0 runs it all in this process, e.g. for --pdb.
PYTEST_WORKERS ?= auto --maxprocesses=4
PYTEST_PARALLEL = -n $(PYTEST_WORKERS)

test: $(VENV)/.dev-installed assets
	./scripts/ensure-chromium
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Everything except the browser, worker and benchmark runs, for a quick loop while editing.
test-fast: $(VENV)/.dev-installed assets
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not browser and not worker and not benchmarks" $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	# The import contracts in pyproject.toml: apps import only the layers below them.
	$(VENV)/bin/lint-imports --no-cache

# Bandit over the application (any finding fails), then the locked dependencies against known
# vulnerabilities (scripts/audit-dependencies says NOT AUDITED when it could reach no data).
security: $(VENV)/.dev-installed
	$(VENV)/bin/bandit -q -c pyproject.toml -r .
	$(PY) scripts/audit-dependencies

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.bench-installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules build var/staticfiles
