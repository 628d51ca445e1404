# The two commands a fresh machine needs: `make run` and `make test`.
# Both create or refresh .venv from the project's own files first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/examples/paper.yaml

.PHONY: install run admin test unit lint fmt bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/martingale run --config $(CONFIG)

# The sample config's first user, alice, becomes an admin of the dashboard and gets a password
# (asked twice, never an argument). Run it once, before or beside `make run`.
admin: $(STAMP)
	$(BIN)/martingale onboard --config $(CONFIG)
	$(BIN)/martingale users set-role alice admin --config $(CONFIG)
	$(BIN)/martingale users set-password alice --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) var/*.sqlite* .mypy_cache .ruff_cache
