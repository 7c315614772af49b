# Two commands set up and run everything on a fresh machine:
#   make demo   train + evaluate a VAE on the embedded digits data, write runs/demo/report.html
#   make test   the whole test suite
#   make docs   the documentation site, into site/
# PyTorch is installed first, by exact spec, and pinned for every later install (a constraint), so
# nothing can swap it for a multi-GB CUDA build. Override: make test TORCH_SPEC="torch==2.5.1".

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hourglass-installed
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: install demo test bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)" numpy
	printf '%s\n' "torch==$$($(PY) -c 'import torch; print(torch.__version__)')" > $(VENV)/constraints.txt
	$(PIP) uninstall -y hourglass 2> /dev/null || true   # the distribution was renamed hourglass-ae
	$(PIP) install -c $(VENV)/constraints.txt -e ".[test,docs]"
	# warm the cache of `hourglass list` and the help texts: the first call imports PyTorch
	$(VENV)/bin/hourglass list > /dev/null && $(VENV)/bin/hourglass train --help > /dev/null
	touch $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/hourglass train vae --data digits --latent-dim 2 --hidden 256,128 \
		--epochs 100 --batch-size 32 --warmup-epochs 20 --seed 0 --quiet --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

# the documentation site, built offline into site/ (open site/index.html)
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs build site src/*.egg-info
