# Two commands do everything:
#   make demo   venv + install, then the app on http://localhost:8501 over the committed public-domain
#               sample of real paintings (data/sample) with the released checkpoints (models/): no training
#   make test   venv + install (+ Chromium for the browser tests), then the whole test suite
# make demo-synthetic: the generated demo collection, trained from scratch in minutes (used by tests).
# Each step is a file target, so a second run skips what is already done.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
DATA   := data
MODELS := models
STAMP  := $(VENV)/.installed
SAMPLE := $(DATA)/sample
# the released checkpoints (see models/README.md for their cards); the classifier is the ensemble of the
# RLA-MobileNetV2 and a plain MobileNetV2 trained alike: better than either on the selection set
CLASSIFIER := $(MODELS)/ensemble-wikiart
# Similar searches with the classifier's embedding: it retrieves same style/artist/genre best of the
# released encoders (results/wikiart-main.md); the label-free BYOL encoder is released beside it
ENCODER    := $(MODELS)/ensemble-wikiart

.PHONY: demo demo-synthetic setup test lint app bench clean-demo chromium

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "==> [1] virtual environment and packages (torch is served from local disk where available)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# artextract/build.py too: a new build stage brings an existing bundle up to date (stale stages only)
$(DATA)/artifacts/sample/manifest.json: $(STAMP) $(SAMPLE)/collection/catalog.csv $(SAMPLE)/reference/catalog.csv \
  $(CLASSIFIER)/model.safetensors $(ENCODER)/model.safetensors artextract/build.py
	@echo "==> [2/2] building artifacts for the public-domain sample with the released checkpoints"
	$(VENV)/bin/artextract build --collection $(SAMPLE)/collection --classifier $(CLASSIFIER) \
	  --reference $(SAMPLE)/reference --encoder $(ENCODER) --name sample \
	  --outlier-labels classifier  # the sample is val paintings: the classifier never trained on them

demo: $(DATA)/artifacts/sample/manifest.json
	$(VENV)/bin/artextract app --port $(PORT)

$(DATA)/demo/catalog.csv: $(STAMP)
	@echo "==> [2/5] generating the demo collection (deterministic, no network)"
	$(VENV)/bin/artextract data demo --force

$(MODELS)/classifier-demo/model.safetensors: $(DATA)/demo/catalog.csv
	@echo "==> [3/5] training the demo RLA-ResNet classifier (style, artist, genre)"
	$(PY) -m artextract.train classifier --preset demo --collection $(DATA)/demo --out $(MODELS)/classifier-demo

$(MODELS)/byol-demo/model.safetensors: $(DATA)/demo/catalog.csv
	@echo "==> [4/5] training the demo BYOL encoder on the reference collection"
	$(PY) -m artextract.train byol --preset demo --collection $(DATA)/demo_reference --out $(MODELS)/byol-demo

$(DATA)/artifacts/demo/manifest.json: $(MODELS)/classifier-demo/model.safetensors $(MODELS)/byol-demo/model.safetensors
	@echo "==> [5/5] building artifacts: embeddings, predictions, t-SNE/UMAP, outliers, metrics, index"
	$(VENV)/bin/artextract build --collection $(DATA)/demo --classifier $(MODELS)/classifier-demo \
	  --reference $(DATA)/demo_reference --encoder $(MODELS)/byol-demo --evidence-encoder $(MODELS)/byol-demo

demo-synthetic: $(DATA)/artifacts/demo/manifest.json
	$(VENV)/bin/artextract app --port $(PORT) --bundle $(DATA)/artifacts/demo

app: setup
	$(VENV)/bin/artextract app --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "==> installing Chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "could not install chromium: browser tests will be skipped"; }

test: $(STAMP) chromium
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/embed.py && $(PY) bench/build.py && $(PY) bench/app.py

clean-demo:
	rm -rf $(DATA)/demo $(DATA)/demo_reference $(DATA)/artifacts/demo $(MODELS)/classifier-demo $(MODELS)/byol-demo
