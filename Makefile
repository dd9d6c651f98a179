# The two commands of the README: `make demo` and `make test`. Both do all set-up themselves in
# a virtual environment, .venv: `make demo` installs only what the demo needs (the project with
# its `demo` extra: tqdm and matplotlib, no torch, no test tools); `make test` adds the full dev
# toolchain and, as root, Debian's graphviz, chromium and chromium-driver.
# After either, use the environment: `. .venv/bin/activate` (then `autograd-lite ...`,
# `python -m autograd_lite ...`), or call `.venv/bin/autograd-lite ...` directly.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench system-deps clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# pip shows what it collects and downloads (no --quiet): the first run takes a minute or two.
$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "Installing autograd-lite with the demo's extras into $(VENV) (no torch) ..."
	$(PY) -m pip install --progress-bar on -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(PY)
	@echo "Installing autograd-lite with the full dev toolchain into $(VENV) ..."
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

system-deps:
	bash scripts/install-system-deps.sh

demo: $(DEMO_STAMP)
	$(PY) -m autograd_lite demo
	@echo
	@echo "Next: activate the environment to run the README's commands:"
	@echo "    . $(VENV)/bin/activate          (then: autograd-lite --help, python -m autograd_lite.render neuron -o neuron.svg)"
	@echo "or prefix them with $(VENV)/bin/:  $(VENV)/bin/autograd-lite graph \"tanh(w*x + b)\" x=1 w=-2 b=0.5"

test: $(STAMP) system-deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -n 2 --dist loadgroup tests --nbmake notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
