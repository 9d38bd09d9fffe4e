# Everyday commands of the project; the scripts under scripts/ do the work.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Generated gRPC code, stubs included, is not linted.

.PHONY: help venv protos infra-up infra-down status run up down test lint bench chromium

help:
	@echo "make run         start everything, apps in the foreground (Ctrl-C stops the apps)"
	@echo "make up / down   start everything in the background / stop it"
	@echo "make test        start the infrastructure (and get Chromium), then run pytest"
	@echo "make lint        ruff and mypy"
	@echo "make protos      regenerate the gRPC code from protos/"
	@echo "make infra-up / infra-down / status / venv / bench"

venv:
	@scripts/venv.sh

protos: venv
	@scripts/protos.sh

infra-up:
	@scripts/stack.sh infra-up

infra-down:
	@scripts/stack.sh infra-down

status:
	@scripts/stack.sh status || true

run:
	@scripts/stack.sh run

up:
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

# The browser tests drive Debian's headless Chromium, installed when missing.
chromium:
	@scripts/chromium.sh

test: infra-up chromium
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy gateway services

bench: infra-up
	@if [[ -f tests/bench.py || -f tests/bench/__main__.py ]]; then \
		$(PY) -m tests.bench; \
	else \
		echo "no benchmark yet: tests/bench is not written"; \
	fi
