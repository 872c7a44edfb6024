# The two commands a newcomer needs are `make demo` and `make test`; both set up everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check bench setup clean

demo: $(STAMP)
	$(VENV)/bin/cardtrace demo

test: $(STAMP)
	scripts/system-deps postgres
	scripts/system-deps valgrind
	scripts/check

check: test

bench: $(STAMP)
	scripts/system-deps postgres
	scripts/system-deps valgrind
	$(PY) benchmarks/run.py

setup: $(STAMP)

$(STAMP): pyproject.toml
	scripts/system-deps venv
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
