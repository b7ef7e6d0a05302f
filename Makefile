# imagerelay: `make demo` runs a release on the local stack, `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
RELEASE ?= $(shell date -u +%Y.%m)

.PHONY: help setup demo test lint stack-up stack-down bench

help:
	@echo "make demo   - install, start the local stack and release a golden VHD"
	@echo "make test   - install and run the test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make stack-down - stop the local stack"

setup:
	@./scripts/setup.sh

demo: setup
	@RELEASE=$(RELEASE) ./scripts/demo.sh

test: setup
	$(UV) run pytest

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

stack-up: setup
	$(UV) run imagerelay stack up

stack-down:
	$(UV) run imagerelay stack down
