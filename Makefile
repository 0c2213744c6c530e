# Two set-up commands: `make demo` and `make test`; each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-benchmark
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (CI has 2 cores).
TEST_WORKERS ?= 2

.PHONY: demo test lint format bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,mpi,docs]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# DQN on CartPole-v1, data-parallel over 2 MPI ranks (100k env steps each, gradients
# averaged); prints the final greedy evaluation and the learning-curve PNG path.
DEMO_DIR ?= runs/demo-dqn-CartPole-v1
demo: $(STAMP)
	$(BIN)/mpirun --allow-run-as-root --oversubscribe -n 2 \
		$(BIN)/rlblocks train dqn --env CartPole-v1 --run-dir $(DEMO_DIR)

# `make bench` runs the whole suite against the peers of the `benchmark` extra (rlax,
# flashbax); `make bench QUICK=1` finishes in minutes.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,mpi,docs,benchmark]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

docs: $(STAMP)
	$(BIN)/python docs/gen_api.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
