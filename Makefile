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
# The suite runs in two processes (pytest-xdist), each test file whole in one of them (module fixtures,
# such as the one-node SLURM, start once): 8.5 to 9 minutes on 2 cores (PYTEST_WORKERS=0: one process).
PYTEST_WORKERS ?= 2

.PHONY: setup java test-tools demo test bench bench-html digits gpu-wheels gpu-check-cpu gpu-report fetch-check clean

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
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# asv in this venv (--python=same), results saved under .asv/results for the current commit.
# BENCH_ARGS passes options on, e.g. BENCH_ARGS='--bench DataPipelines' or '--quick'.
BENCH_ARGS ?=
bench: setup
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --set-commit-hash $$(git rev-parse HEAD) $(BENCH_ARGS)

bench-html: setup
	$(BIN)/asv publish
	@echo "asv site: reports/asv/index.html"

# A small real data set for the lottery-ticket search: scikit-learn's digits (benchmarks/lth/digits.py).
digits: setup
	@test -d data/digits || $(BIN)/python benchmarks/lth/digits.py data/digits

# The GPU check (benchmarks/gpu/check.sh; README "The GPU check"). gpu-wheels downloads what the GPU
# machine lacks, for its CPython 3.12 on manylinux x86_64, into .whl/ (git-ignored): Keras and those of
# its requirements that machine does not have (optree 0.16 is the newest built for manylinux2014).
GPU_WHEELS ?= keras==3.15.1 namex==0.1.0 optree==0.16.0 packaging==26.4 typing_extensions==4.16.0
GPU_CHECK_OUT ?= results/gpu-check
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .whl $(GPU_WHEELS)

# The same steps on this machine's CPU with a tiny workload: everything short of the GPU.
gpu-check-cpu: setup
	PYTHON=$(BIN)/python bash benchmarks/gpu/check.sh $(GPU_CHECK_OUT) --device cpu --quick

# A check's archive rendered here: make gpu-report ARCHIVE=results/gpu-check/gpu-check-....tar.gz
gpu-report: setup
	@test -n "$(ARCHIVE)" || { echo "error: name the archive: make gpu-report ARCHIVE=FILE" >&2; exit 2; }
	rm -rf results/gpu-check-report && mkdir -p results/gpu-check-report
	tar -xzf $(ARCHIVE) -C results/gpu-check-report --strip-components 1
	$(BIN)/harness report results/gpu-check-report/results --out reports/gpu-check.html

# Opt-in, needs the internet (not part of `make test`): fetches the smallest real data sets from their real
# URLs into a temporary folder; `harness data fetch` verifies sizes, SHA-256s and image counts (README "Data sets by name").
fetch-check: setup
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	$(BIN)/harness data fetch mnist "$$dir/mnist" && \
	$(BIN)/harness data fetch imagenette-160 "$$dir/imagenette-160" && \
	echo "fetch-check: mnist and imagenette-160 fetched, verified and unpacked"

clean:
	rm -rf $(VENV) results reports/*.html reports/*.png reports/asv .asv data/default data/digits data/asv-* .pytest_cache .site
