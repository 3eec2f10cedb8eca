# Everything a person runs. `make demo` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SEED ?= 1

.PHONY: help demo serve run email-demo setup test lint format migrations-check messages broker-set worker worker-reports beat clean \
	system-packages system-packages-test report-pngs

help:
	@echo "make demo              set up, load demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test              run the test suite (SQLite; set DATABASE_URL and CELERY_BROKER_URL for the integration tests)"
	@echo "make lint              ruff lint and format check, import contracts (lint-imports)"
	@echo "make format            apply ruff formatting"
	@echo "make migrations-check  fail if a model change lacks a migration"
	@echo "make worker | worker-reports | beat   run Celery processes (needs CELERY_BROKER_URL)"

# Debian packages pip cannot provide (WeasyPrint's libraries; Chromium and poppler for tests),
# installed only when missing. Elsewhere, bin/system-packages names them.
system-packages:
	@bin/system-packages runtime

system-packages-test:
	@bin/system-packages test

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Plimsoll needs Python 3.11 or newer; this is " + sys.version.split()[0] + ". Try: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# A local secret key for the embedded default; production sets SECRET_KEY in its environment.
.env:
	@$(PYTHON) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > .env
	@echo "Wrote .env with a new SECRET_KEY."

# The demo prints emails into the console on purpose; a server never does so by default.
email-demo: .env
	@grep -q '^EMAIL_URL=' .env || { echo 'EMAIL_URL=consolemail://' >> .env; echo "Wrote EMAIL_URL=consolemail:// into .env: emails are printed, not sent."; }

setup: system-packages $(VENV)/.installed .env email-demo
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_instruments
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Links printed by the demo, and in its emails, follow the port it is served on (unless
# SITE_URL says otherwise).
LOCAL_SITE_URL = SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

demo: setup
	$(LOCAL_SITE_URL) $(PY) manage.py seed_demo --seed $(SEED)
	@$(MAKE) --no-print-directory run

serve: setup
	@$(MAKE) --no-print-directory run

# Serve without setting up again (demo and serve set up first).
run:
	@echo "Plimsoll is serving on http://$(HOST):$(PORT)/ (Ctrl-C stops it)."
	$(LOCAL_SITE_URL) $(VENV)/bin/gunicorn config.wsgi:application --bind $(HOST):$(PORT) --workers 2 --access-logfile -

test: system-packages-test $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python .ci/import-contracts

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: $(VENV)/.installed .env
	$(PY) manage.py makemigrations --check --dry-run

# Refresh the German catalogue after changing interface text, translate, then compile.
# Needs gettext (xgettext, msgfmt). The compiled .mo is committed so installs need neither.
messages: $(VENV)/.installed .env
	$(PY) manage.py makemessages -l de --ignore=.venv --ignore=staticfiles --ignore=tests --ignore=bench --no-obsolete
	msgfmt --check -o locale/de/LC_MESSAGES/django.mo locale/de/LC_MESSAGES/django.po

# Without a broker, tasks run inside the web process and these are not needed.
broker-set:
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) first."; exit 1; }

worker: $(VENV)/.installed broker-set
	$(VENV)/bin/celery -A config worker -Q default --loglevel INFO

worker-reports: $(VENV)/.installed broker-set
	$(VENV)/bin/celery -A config worker -Q reports --concurrency 1 --max-memory-per-child 800000 --loglevel INFO

beat: $(VENV)/.installed broker-set
	$(VENV)/bin/celery -A config beat --loglevel INFO

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache

# Survey submissions/s against a minimal floor view on PostgreSQL and Redis at 127.0.0.1 (see
# bench/submit.py for BENCH_* settings). Creates and drops its own database, plimsoll_bench.
.PHONY: bench-submit
bench-submit: $(VENV)/.installed
	$(PY) -m bench.submit

# Scoring a closed campaign of 1,000,000 responses (and 100,000) end to end against a floor
# that only reads the answers, on PostgreSQL at 127.0.0.1 (see bench/scoring.py for BENCH_*
# settings). Creates and drops its own database, plimsoll_bench_scoring.
.PHONY: bench-scoring
bench-scoring: $(VENV)/.installed
	$(PY) -m bench.scoring

# Rendering the organisation report (en) and one department pack (de) of a scored campaign over
# 200 departments, on PostgreSQL at 127.0.0.1 (see bench/report.py for BENCH_* settings).
# Creates and drops its own database, plimsoll_bench_report.
.PHONY: bench-report
bench-report: $(VENV)/.installed
	$(PY) -m bench.report

# HR pages that grow with the organisation (employee list, department tree, participation of an
# open campaign) at 100,000 employees in 1,000 departments, on PostgreSQL at 127.0.0.1 (see
# bench/pages.py for BENCH_* settings). Creates and drops its own database, plimsoll_bench_pages.
.PHONY: bench-pages
bench-pages: $(VENV)/.installed
	$(PY) -m bench.pages

# The REST API at size: a full directory sync run of 100,000 employees in 1,000 departments, the
# same again with 1% changed, the results endpoint of 1,000 departments x 10 domains and the
# employee list paged through, on PostgreSQL at 127.0.0.1 (see bench/api.py for BENCH_*
# settings). Creates and drops its own database, plimsoll_bench_api.
.PHONY: bench-api
bench-api: $(VENV)/.installed
	$(PY) -m bench.api

# The committed OpenAPI description, regenerated after a change to the API (the tests compare).
.PHONY: api-schema
api-schema: $(VENV)/.installed
	SECRET_KEY=schema-only $(PY) manage.py spectacular --file api/openapi.yaml --validate --fail-on-warn

# The demo campaign's organisation report and one department pack as PNG pages, for a look
# (needs `make demo` or `manage.py seed_demo` first). Written to report-pngs/.
report-pngs: system-packages-test $(VENV)/.installed .env
	$(PY) manage.py report_pngs --out report-pngs
