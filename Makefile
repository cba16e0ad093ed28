# popcen: two commands on a fresh machine.
#   make demo   set up .venv + system tools, then run the whole pipeline on the built-in demo
#   make test   set up the same way, then run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# command:Debian package. chromium + chromedriver render the report in the browser test; dot the DAG.
SYSTEM_TOOLS := bedtools:bedtools samtools:samtools bcftools:bcftools tabix:tabix bgzip:tabix plink2:plink2 \
	chromium:chromium chromedriver:chromium-driver dot:graphviz

.PHONY: demo test setup venv tools lint format clean dag benchmarks

demo: setup
	$(BIN)/snakemake --profile profiles/default --cores $(CORES)
	$(BIN)/snakemake --profile profiles/default --report results/report.html
	@echo "Results are in $$(pwd)/results/; the report: $$(pwd)/results/report.html"

test: lint
	$(BIN)/python -m pytest

# Style and workflow checks, also run by `make test`; `make format` fixes what the formatters can.
lint: setup
	$(BIN)/ruff check workflow tests benchmarks
	$(BIN)/ruff format --check workflow tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --cores 1

format: setup
	$(BIN)/ruff check --fix workflow tests benchmarks
	$(BIN)/ruff format workflow tests benchmarks
	$(BIN)/snakefmt Snakefile rules

setup: venv tools

# The stamp is rebuilt when requirements.txt changes. torch comes first, pinned, so that nothing
# later pulls a CUDA build; zarr<3 is pinned in requirements.txt for scikit-allel.
venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# apt only for what is missing, and only as root (elsewhere: say what to install).
tools:
	@missing=""; pkgs=""; for t in $(SYSTEM_TOOLS); do \
	  command -v $${t%%:*} >/dev/null || { missing="$$missing $${t%%:*}"; pkgs="$$pkgs $${t#*:}"; }; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing with apt:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends $$pkgs >/dev/null; \
	  else echo "missing system tools:$$missing (install them, e.g. apt-get install $$pkgs)"; exit 1; fi; \
	fi

# Every benchmark against its peers, in turn (long: see benchmarks/README.md); results in benchmarks/out/.
benchmarks: setup
	benchmarks/run_all.sh

dag: setup
	$(BIN)/snakemake --profile profiles/default --rulegraph | dot -Tsvg > dag.svg

clean:
	rm -rf results resources/demo logs benchmarks/out .snakemake
