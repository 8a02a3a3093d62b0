# The two commands: `make demo` (main job on the bundled data) and `make test`.
# Each creates .venv and installs archscout with what it needs, on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/archscout hw devices
	$(BIN)/archscout hw query --space nb201 --dataset cifar10 --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
	$(BIN)/archscout hw query --space fbnet --dataset cifar100 --arch "$$(echo k3_e1 | sed 's/.*/& & & & & & & & & & & & & & & & & & & & & &/')" --device raspi4

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/hw_query.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
