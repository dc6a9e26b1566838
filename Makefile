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

.PHONY: setup java test-tools demo test bench bench-html clean

java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
		echo "error: Java 17 or newer is needed for Spark (found: $${v:-no java}); install openjdk-17-jre-headless" >&2; \
		exit 1; \
	fi

# Debian packages the tests drive: chromium for the report's browser check, SLURM and munge for the
# one-node SLURM test (tests/system/install.sh installs whichever is missing).
TEST_TOOLS := chromium:chromium chromedriver:chromium-driver sbatch:slurm-wlm munged:munge
test-tools:
	@sh tests/system/install.sh $(TEST_TOOLS)

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

test: setup test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# asv in this venv (--python=same), results saved under .asv/results for the current commit.
# BENCH_ARGS passes options on, e.g. BENCH_ARGS='--bench DataPipelines' or '--quick'.
BENCH_ARGS ?=
bench: setup
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --set-commit-hash $$(git rev-parse HEAD) $(BENCH_ARGS)

bench-html: setup
	$(BIN)/asv publish
	@echo "asv site: reports/asv/index.html"

clean:
	rm -rf $(VENV) results reports/*.html reports/*.png reports/asv .asv data/default data/asv-* .pytest_cache
