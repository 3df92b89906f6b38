# Two front-door targets: `make demo` and `make test`. Both set up .venv themselves.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv clean system-deps

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,engines]'
	touch $(STAMP)

venv: $(STAMP)

# A network under scarcity: Gavel's Philly-like generator at 240 jobs/h (multi-GPU, 40 synthetic users
# mapped onto the scenario's tenants) on the default east-data-west-compute network.
DEMO_TRACE := gavel-continuous:rate=240,jobs=3000,multi_gpu=1,users=40

demo: $(STAMP)
	$(BIN)/cpnet simulate --trace $(DEMO_TRACE) --policy fifo --policy gavel-las --policy convergent --out out/demo

# System packages of the servers the suite starts itself (PostgreSQL, Slurm + munge), installed when missing.
system-deps:
	./scripts/system-deps.sh

# Linters (configured in pyproject.toml): ruff's lint rules and its formatter (check only) over the code and tests, mypy over src/.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

# Four pytest workers on two cores: most of the suite waits on servers it started (see tests/conftest.py
# for how tests are grouped onto workers). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 4

test: $(STAMP) lint system-deps
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

clean:
	rm -rf $(VENV) out
