# One task runner for everything the README mentions.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test proto proto-check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: set up and start the server on the embedded SQLite default with the school's demo data
run: $(STAMP)
	$(BIN)/consent-vault serve --demo

## test: set up, lint the protos and the code, check the layers' imports, type-check it, and run the whole test suite
test: $(STAMP)
	$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest

## proto: regenerate vault/v1 from proto/ (never edit the generated files by hand)
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. proto/vault/v1/*.proto

lint: $(STAMP)
	$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

## bench: measure the vault against a bare gRPC echo service in the same run
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) vault-data
