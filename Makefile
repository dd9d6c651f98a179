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
# PyTorch (the tests' oracle) is the CPU build, from PyTorch's CPU package index: PyPI's Linux
# wheel of torch 2.13.0 is the CUDA build (a 527 MB wheel that pulls several GB of nvidia-*
# packages). `+cpu` exists only on that index; TORCH_INDEX may name a mirror of it.
TORCH ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# The compiled-replay cache (autograd_lite.compile.native.cache_dir): $XDG_CACHE_HOME/autograd-lite if
# XDG_CACHE_HOME is an absolute path, else ~/.cache/autograd-lite.
XDG_CACHE_ABS := $(filter /%,$(strip $(XDG_CACHE_HOME)))
CACHE_DIR := $(if $(XDG_CACHE_ABS),$(XDG_CACHE_ABS),$(HOME)/.cache)/autograd-lite

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
	@echo "Installing $(TORCH) (PyTorch's CPU build) from $(TORCH_INDEX) ..."
	@$(PY) -m pip install --progress-bar on --retries 1 --extra-index-url $(TORCH_INDEX) '$(TORCH)' || { \
	  echo "make: could not install $(TORCH) from $(TORCH_INDEX). Set TORCH_INDEX to a mirror"; \
	  echo "of PyTorch's CPU index, or TORCH=torch==2.13.0 for PyPI's CUDA build (several GB)."; \
	  exit 1; }
	@echo "Installing autograd-lite with the full dev toolchain into $(VENV) ..."
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	@$(PY) -c "import torch; print('torch', torch.__version__, '(CPU build)' if torch.version.cuda is None else '(CUDA ' + torch.version.cuda + ' build)')"
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
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadgroup tests --nbmake notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/bench_native_limits.py --out benchmarks/results_native.md

# What the project writes: the environment, build and cache folders, the demo's and the docs'
# output, the README commands' files, and the compiled-replay cache in $(CACHE_DIR).
clean:
	rm -rf $(VENV) build *.egg-info site demo-output .pytest_cache .hypothesis .ruff_cache \
	  .mypy_cache neuron.svg quiz.html graph.svg mlp.svg backprop-steps.html
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf "$(CACHE_DIR)"
