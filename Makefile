# The two commands of the README: `make demo` and `make test`. Both do all set-up themselves:
# a virtual environment in .venv with the project and its extras, and (for tests) Debian's
# graphviz, chromium and chromium-driver.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

demo: $(STAMP)
	$(PY) -m autograd_lite demo

test: $(STAMP) system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --dist loadgroup tests --nbmake notebooks

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
