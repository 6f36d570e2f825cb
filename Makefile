# One-command set-up: `make chat` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARTICLES := $(wildcard corpus/*.md corpus/*.txt corpus/*.html corpus/*.htm corpus/guide.toml)

.PHONY: chat test lint bench eval index telegram clean safety-model

$(INSTALLED): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

SAFETY_DATA := bot/safety/rules.toml bot/safety/training.py bot/safety/training/sources.txt $(wildcard bot/safety/training/*.jsonl)
SAFETY_MODEL := index/safety/manifest.json

# The learned layer of the safety screen: fine-tuned from the packaged model (5-20 minutes
# on 2 cores), again whenever its training data or the rules change.
$(SAFETY_MODEL): $(INSTALLED) $(SAFETY_DATA)
	$(BIN)/hipbot safety train

safety-model: $(INSTALLED)
	$(BIN)/hipbot safety train

index/manifest.json: $(INSTALLED) $(ARTICLES) $(SAFETY_MODEL)
	$(BIN)/hipbot index build

index: $(INSTALLED)
	$(BIN)/hipbot index build

# The model exported to ONNX beside the index (answering then needs no torch); an index
# built before the export gets it on the next build.
INDEX_ENCODER := index/encoder/model.onnx
$(INDEX_ENCODER): index/manifest.json
	test -f $@ || $(BIN)/hipbot index build

chat: index/manifest.json $(INDEX_ENCODER)
	$(BIN)/hipbot chat

telegram: index/manifest.json $(INDEX_ENCODER)
	$(BIN)/hipbot telegram

test: $(INSTALLED) $(SAFETY_MODEL)
	scripts/ensure_test_tools.sh
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check bot tests scripts
	$(BIN)/ruff format --check bot tests scripts

eval: index/manifest.json $(INDEX_ENCODER)
	$(BIN)/hipbot eval

bench: index/manifest.json $(INDEX_ENCODER)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) index/safety index/encoder index/manifest.json index/passages-* index/embeddings-* index/vectors-* index/bm25-*
