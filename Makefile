# Keyhouse: `make run` serves the API with embedded defaults; `make test` runs everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: help run test lint format migrate superuser shell python deps deps-dev production

help:
	@echo "make run        serve Keyhouse on http://$(HOST):$(PORT) with embedded defaults"
	@echo "make test       lint, checks and the whole suite (SQLite, then PostgreSQL + Redis)"
	@echo "make migrate | superuser | shell | lint | format"
	@echo "make production  try production mode here: PostgreSQL, Redis, Celery, gunicorn"

python:
	@$(UV) python find "$(PYTHON_VERSION)" >/dev/null 2>&1 || { \
	  echo "Keyhouse needs Python $(PYTHON_VERSION) (Django 6 requires 3.12 or newer), and none was found."; \
	  echo "Install it (for example: pyenv install $(PYTHON_VERSION)) and run make again."; \
	  exit 1; }

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

deps: $(UV) python
	$(UV) sync --locked --no-dev --inexact --python "$(PYTHON_VERSION)"

deps-dev: $(UV) python
	$(UV) sync --locked --python "$(PYTHON_VERSION)"

var/secret_key:
	@mkdir -p var
	@$(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@chmod 600 $@
	@echo "Created a development secret key in $@"

run: export DEBUG := 1
run: export KEYHOUSE_JWT_ISSUER ?= http://$(HOST):$(PORT)
run: deps var/secret_key
	$(MANAGE) migrate --no-input
	$(MANAGE) rotate_signing_key --if-missing
	@echo
	@echo "Keyhouse is starting on http://$(HOST):$(PORT)"
	@echo "  API docs:     http://$(HOST):$(PORT)/api/docs/"
	@echo "  Admin:        http://$(HOST):$(PORT)/admin/   (create an account: make superuser)"
	@echo "  Health check: http://$(HOST):$(PORT)/healthz and /readyz"
	@echo
	$(MANAGE) runserver "$(HOST):$(PORT)"

migrate: export DEBUG := 1
migrate: deps var/secret_key
	$(MANAGE) migrate

superuser: export DEBUG := 1
superuser: deps var/secret_key
	$(MANAGE) migrate --no-input
	$(MANAGE) createsuperuser

shell: export DEBUG := 1
shell: deps var/secret_key
	$(MANAGE) shell

lint: deps-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: deps-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

production: deps-dev
	bash scripts/production

test: deps-dev lint
	@mkdir -p var
	bash scripts/test

# Benchmarks against djoser + simplejwt, results in bench/results/ (see bench/README.md).
# SCALE=1 adds refresh and login with 1,000 against 1,000,000 users in PostgreSQL;
# DB=postgres runs the comparison on PostgreSQL + Redis instead of SQLite;
# CONCURRENCY=1 adds refresh and login on 4 workers with 200 connections.
.PHONY: bench
bench: deps-dev
	BENCH_SCALE=$${BENCH_SCALE:-$(SCALE)} BENCH_DB=$${BENCH_DB:-$(DB)} \
	BENCH_CONCURRENCY=$${BENCH_CONCURRENCY:-$(CONCURRENCY)} $(PY) bench/run.py
