# Two commands set up and run everything on a fresh machine:
#   make demo   train + evaluate a VAE on the embedded digits data, write runs/demo/report.html
#   make test   the whole test suite
# PyTorch is installed first, by exact spec, and pinned for every later install (a constraint), so
# nothing can swap it for a multi-GB CUDA build. Override: make test TORCH_SPEC="torch==2.5.1".

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hourglass-installed
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)" numpy
	printf '%s\n' "torch==$$($(PY) -c 'import torch; print(torch.__version__)')" > $(VENV)/constraints.txt
	$(PIP) install -c $(VENV)/constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/hourglass train vae --data digits --latent-dim 2 --hidden 256,128 \
		--epochs 60 --seed 0 --quiet --out runs/demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs build src/*.egg-info
