# Two commands do all the set-up: `make test` and `make brief`.
# Each creates .venv when it is missing or older than pyproject.toml.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test brief bench lint clean explore

# The explorer's browser tests drive Debian's Chromium (test tools' own browser
# downloads do not work here); BRAINSIM_CHROMIUM=/path/to/chromium uses another.
CHROMIUM := $(or $(BRAINSIM_CHROMIUM),/usr/bin/chromium)
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)
APT      := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(CHROMIUM):
	$(APT) chromium || ($(SUDO) apt-get update && $(APT) chromium)

# Tests run in two processes, a file to each (pytest-xdist): most of their time
# is CLI subprocesses and forked workers, which a second core overlaps.
test: $(STAMP) $(CHROMIUM)
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest -q -n 2 --dist loadfile
	$(VENV)/bin/brainsim brief --check

brief: $(STAMP)
	$(VENV)/bin/brainsim compare scenarios/*.yaml --out figures/scenarios
	$(VENV)/bin/brainsim brief --lang both --out figures/briefing

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_engine.py --model benchmarks/models/bench_regions.mdl
	$(PY) benchmarks/bench_kernel.py
	$(PY) benchmarks/bench_floor.py
	$(PY) benchmarks/bench_read.py
	$(PY) benchmarks/bench_compare.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_budget.py

explore: $(STAMP)
	$(VENV)/bin/brainsim explore

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
