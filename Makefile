# Two entry points, both self-contained on a machine with Python 3.11+, make and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Dependencies come from requirements-test.lock: exact versions, each file checked against its
# sha256, so every machine and CI installs the same bytes. The project itself goes in with
# --no-deps: its pyproject.toml ranges are for people who depend on it, the lock is for us.
LOCK := requirements-test.lock
UV_VERSION := 0.13.9

.PHONY: demo test test-faults lint typecheck unit clean bench lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# After changing a dependency in pyproject.toml: rewrite both lock files (needs the index).
# uv resolves for every platform and Python >= 3.11 at once (--universal), in a second.
lock:
	@test -x .venv-lock/bin/uv || ($(PYTHON) -m venv .venv-lock && \
		.venv-lock/bin/python -m pip install --quiet uv==$(UV_VERSION))
	.venv-lock/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
		--generate-hashes --quiet -o requirements.lock
	.venv-lock/bin/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --quiet -o requirements-test.lock

demo: $(STAMP)
	$(BIN)/revox-sync demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check connector adapters tests emulators bench
	$(BIN)/ruff format --check connector adapters tests emulators

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not faults"

# The full fault-injection suite: many more kills and faults (issue 6); under 10 minutes.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .venv-lock build *.egg-info .mypy_cache .ruff_cache .pytest_cache demo-run
