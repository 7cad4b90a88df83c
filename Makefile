# `make run`: the main job (complexity of the zoo, demo evaluation, tables and plot into results/).
# `make test`: the import contracts (lint-imports), the docs site's strict build, then the test suite.
# `make docs`: the documentation site (mkdocs.yml, docs/), built strictly into site/. All create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast docs clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the releases this machine provides, so nothing pulls a newer build
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test,deploy,docs]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/zoo benchmark

test: $(STAMP)
	$(BIN)/lint-imports  # the layers and forbidden imports of pyproject.toml's [tool.importlinter]
	$(MAKE) docs
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

# strict: a broken link, a missing page or a generated table that cannot be made fails the build
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean-venv:
	rm -rf $(VENV)
