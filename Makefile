# One-command set-up: `make chat` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARTICLES := $(wildcard corpus/*.md corpus/*.txt corpus/*.html corpus/*.htm)

.PHONY: chat test lint bench eval index telegram clean safety-head

$(INSTALLED): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

# The learned layer of the safety screen ships trained; this rebuilds it when it is missing.
bot/safety/head/head.npz: | $(INSTALLED)
	$(BIN)/hipbot safety train

safety-head: $(INSTALLED)
	$(BIN)/hipbot safety train

index/manifest.json: $(INSTALLED) $(ARTICLES) bot/safety/head/head.npz
	$(BIN)/hipbot index build

index: $(INSTALLED)
	$(BIN)/hipbot index build

chat: index/manifest.json
	$(BIN)/hipbot chat

telegram: index/manifest.json
	$(BIN)/hipbot telegram

test: $(INSTALLED) bot/safety/head/head.npz
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
