# Every target builds the pinned environment in .venv/ first (requirements/dev.lock).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test quick lint typecheck docs dist pytest browser-deps demo emulator lock clean bench faults \
	lock-compat compat compat-smoke

all: test

venv: $(STAMP)

$(STAMP): requirements/dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_oac tests example_dags bench scripts
	$(BIN)/ruff format --check airflow_provider_oac tests example_dags bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	rm -rf docs/_build
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The wheel and the sdist in dist/, built with the pinned hatchling (no download) and checked with
# twine (metadata, README rendering). tests/test_dist.py installs the wheel into a clean venv.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/uv build --quiet --no-build-isolation --python $(BIN)/python --out-dir dist
	$(BIN)/twine check --strict dist/*

# Every test, in two pytest runs: first all but the `serial` ones on $(WORKERS) xdist workers (most
# tests wait on subprocesses, servers and Airflow start-ups, so more workers than the 2 cores pay
# off; --dist loadgroup keeps each xdist_group, a shared API server, on one worker), then the
# `serial` ones (timing-sensitive: stress, lock-server outages) one at a time. Both always run;
# make fails if either fails, exit 5 (no tests collected) included. docs/development.md has the
# figures.
WORKERS ?= 4
XDIST := -n $(WORKERS) --dist loadgroup

pytest: $(STAMP) browser-deps
	status=0; \
	$(BIN)/pytest $(XDIST) -m "not serial" || status=$$?; \
	$(BIN)/pytest -m serial || status=$$?; \
	exit $$status

# Debian's headless Chromium and its driver, for the UI login page test (tests/ui), and zbar's
# scanner, which reads the page's QR code back (tests/ui/test_qr.py). Installed when missing and
# apt-get can run as root; otherwise those tests are skipped and say why.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
		&& command -v zbarimg >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing chromium, chromium-driver and zbar-tools (apt-get) for the UI tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver zbar-tools; } \
			>/dev/null 2>&1 || echo "browser-deps: apt-get could not install chromium or zbar-tools; their tests will be skipped"; \
	else echo "browser-deps: no chromium/chromedriver/zbarimg and no apt-get as root; their tests will be skipped"; fi

# The whole suite: lint, types, docs (warnings are errors), then every test.
test: lint typecheck docs pytest

# The suite without the tests that start real Airflow components (scheduler, triggerer, API
# server), a whole deployment, or many processes for a minute (markers scheduler, deployment,
# stress); the fault matrix's short form stays. Split as `make pytest` is. How long it takes:
# docs/development.md.
QUICK := not scheduler and not deployment and not stress

quick: $(STAMP)
	status=0; \
	$(BIN)/pytest $(XDIST) -m "$(QUICK) and not serial" || status=$$?; \
	$(BIN)/pytest -m "$(QUICK) and serial" || status=$$?; \
	exit $$status

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

emulator: $(STAMP)
	$(BIN)/airflow-oac emulator --auto-approve

# Re-pin the development environment after editing requirements/dev.in.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet requirements/dev.in -o requirements/dev.lock --python-version 3.11

# Re-pin the compat matrix (requirements/airflow-3.X.in -> .lock; dates and Pythons in
# scripts/compat.py ROWS). ROWS=3.0 re-pins one row.
lock-compat: $(STAMP)
	$(BIN)/python scripts/compat.py lock

# The compat matrix (docs/compatibility.md): per supported Airflow minor a venv under .venv-compat/
# with its lock and the provider's wheel, then the unit suite, a real deployment, the connection
# form and the login plugin page. ROWS=3.0,3.2 picks rows; CHECKS=deployment picks columns.
compat: $(STAMP)
	$(BIN)/python scripts/compat.py run

# CI's smoke test: the oldest pair (Airflow 3.0.6, Python 3.12: MWAA), deployment only.
compat-smoke: $(STAMP)
	$(BIN)/python scripts/compat.py run --rows 3.0 --checks deployment

clean:
	rm -rf $(VENV) .venv-compat dist docs/_build .pytest_cache .mypy_cache .ruff_cache

# The fault matrix, the secret scan (two real deployments) and the bad-input matrix; writes
# docs/reliability.md and fails if an invariant broke. make test runs their short forms (tests/faults).
faults: $(STAMP)
	$(BIN)/python -m tests.faults

# Every benchmark under bench/ (bench/_*.py are shared helpers), each printing its table side by
# side with its baseline; all run even if one misses its target, then make fails. See
# docs/performance.md.
BENCHES := $(sort $(wildcard bench/[!_]*.py))

bench: $(STAMP)
	@status=0; for script in $(BENCHES); do \
		echo "== $$script"; $(BIN)/python $$script || status=1; \
	done; exit $$status
