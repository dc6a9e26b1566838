# `make demo` and `make test` each set up everything they need on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data/default
RESULTS ?= results/demo
REPORT ?= reports/demo.html
WORKLOAD ?= small
STEPS ?= 30
PYTEST_ARGS ?=

.PHONY: setup java demo test clean

java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
		echo "error: Java 17 or newer is needed for Spark (found: $${v:-no java}); install openjdk-17-jre-headless" >&2; \
		exit 1; \
	fi

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

setup: java $(BIN)/.installed

demo: setup
	$(BIN)/harness data synth $(DATA)
	$(BIN)/harness run --variant cpu-naive --data $(DATA) --workload $(WORKLOAD) --steps $(STEPS) --results $(RESULTS)
	$(BIN)/harness run --variant cpu-parallel --data $(DATA) --workload $(WORKLOAD) --steps $(STEPS) --results $(RESULTS)
	$(BIN)/harness report $(RESULTS) --out $(REPORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) results reports/*.html data/default .pytest_cache
