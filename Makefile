# The two commands: `make demo` (main job on the bundled data) and `make test`.
# Each creates .venv and installs archscout with what it needs, on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow bench clean data

FMNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# constraints.txt pins the exact torch of CI (the CPU build: an unconstrained install pulls CUDA packages)
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Fashion-MNIST (the shift suites' source) from the Debian package, where it is missing.
data:
	@[ -d $(FMNIST) ] || { echo "installing the Debian package dataset-fashion-mnist"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq >/dev/null 2>&1 && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; } || \
	  { echo "could not install dataset-fashion-mnist; set ARCHSCOUT_FASHION_MNIST to a folder with its idx files"; exit 1; }

# The main job with its defaults: prior-sh on fmnist-shift (style-lodo-noise), NB201, a 20 ms budget on
# raspi4, cpu profile; the chosen arch trained and compared with baselines, report.html, model.onnx.
# Resumable in runs/<name>: re-running `make demo` reads the finished stages back.
demo: $(BIN)/.installed data
	$(BIN)/archscout search

test: $(BIN)/.installed
	-@$(MAKE) --no-print-directory data  # the tests that read the real files skip without it
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/hw_query.py
	$(BIN)/python benchmarks/engine_overhead.py
	$(BIN)/python benchmarks/strategies.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
