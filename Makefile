# One-command set-up: `make chat` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARTICLES := $(wildcard corpus/*.md corpus/*.txt corpus/*.html corpus/*.htm)

.PHONY: chat test lint bench eval index telegram clean

$(INSTALLED): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

index/manifest.json: $(INSTALLED) $(ARTICLES)
	$(BIN)/hipbot index build

index: $(INSTALLED)
	$(BIN)/hipbot index build

chat: index/manifest.json
	$(BIN)/hipbot chat

telegram: index/manifest.json
	$(BIN)/hipbot telegram

test: $(INSTALLED)
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check bot tests scripts
	$(BIN)/ruff format --check bot tests scripts

eval: index/manifest.json
	$(BIN)/hipbot eval

bench: index/manifest.json
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) index/manifest.json index/passages-* index/embeddings-* index/vectors-* index/bm25-*
