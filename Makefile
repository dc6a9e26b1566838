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

.PHONY: setup java chromium demo test clean

java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
		echo "error: Java 17 or newer is needed for Spark (found: $${v:-no java}); install openjdk-17-jre-headless" >&2; \
		exit 1; \
	fi

# The report's browser check (tests/test_report_browser.py) drives Debian's chromium through its chromedriver.
chromium:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then sudo=""; \
		elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then sudo="sudo"; \
		else echo "error: the report's browser check needs chromium and chromedriver: install Debian's chromium and chromium-driver as root" >&2; exit 1; fi; \
		echo "installing chromium and chromium-driver with $${sudo:+sudo }apt-get"; \
		apt="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0"; \
		$$apt update && $$apt install -y --no-install-recommends chromium chromium-driver >/dev/null || exit 1; \
		if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
			echo "error: chromium or chromedriver is still not on PATH after installing chromium and chromium-driver" >&2; exit 1; \
		fi; \
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

test: setup chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) results reports/*.html reports/*.png data/default .pytest_cache
