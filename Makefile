# The README's two commands: `make demo` runs the system on its embedded default, `make test` runs every test.
# Both create .venv and install what they need by themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,edge,hub,ai

.PHONY: demo demo-scenario test lint typecheck unit bench bench-verify crash crash-sagas crash-hub fuzz clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python deploy/demo.py

demo-scenario: $(STAMP)
	$(BIN)/python deploy/demo.py --scenario freezer-failure

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# in-process tests in parallel (each worker makes its own databases, streams and topics); the end-to-end tests,
# which start processes and measure time, one at a time after them
TEST_WORKERS ?= 2
test: lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --ignore=tests/e2e
	$(BIN)/pytest tests/e2e

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

bench: $(STAMP)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/edge_append.py
	$(BIN)/python bench/edge_memory.py
	$(BIN)/python bench/drivers.py

bench-verify: $(STAMP)
	$(BIN)/python bench/verify.py

crash: $(STAMP)
	TRACSEQ_CRASH_KILLS=$${KILLS:-200} $(BIN)/pytest -q -s tests/e2e/test_edge_crash.py

crash-sagas: $(STAMP)
	TRACSEQ_SAGA_CRASH_CAMPAIGN=full $(BIN)/pytest -q -s tests/e2e/test_saga_crash.py

crash-hub: $(STAMP)
	TRACSEQ_HUB_CRASH_KILLS=$${KILLS:-200} $(BIN)/pytest -q -s tests/e2e/test_hub_crash.py

fuzz: $(STAMP)
	TRACSEQ_FUZZ_EXAMPLES=$${EXAMPLES:-20000} $(BIN)/pytest -q -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
