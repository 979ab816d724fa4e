# The two commands of the README: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := client,lambdas,inference,cli,ui,local,infra,dev

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# The AUTOMATIC1111 WebUI's own pins, for the panel and client core (Python 3.10, gradio 3.41.2, pydantic 1).
PYTHON310 ?= $(firstword $(wildcard /root/.pyenv/versions/3.10.*/bin/python) $(shell command -v python3.10))
WEBUI_VENV := .venv-webui
WEBUI_STAMP := $(WEBUI_VENV)/.installed
CHROMIUM := /usr/bin/chromium
# checkov lives in a venv of its own: its exact pins (boto3 1.35, networkx 2, packaging 23) would downgrade
# the project's packages.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30

# The real AUTOMATIC1111 WebUI v1.10.1 and sd-webui-controlnet v1.1.455 for tests/e2e/webui: sources from the
# shared tarballs extracted under build/webui, their Python 3.10 venv built from the registries. The stamp is
# keyed on every input, so the venv is rebuilt only when one of them changes.
WEBUI_SHARED ?= ../shared/webui
REAL_WEBUI_BUILD := build/webui
REAL_WEBUI_VENV := .venv-webui-real
REAL_WEBUI_INPUTS := $(WEBUI_SHARED)/stable-diffusion-webui-v1.10.1.tar.gz \
	$(WEBUI_SHARED)/sd-webui-controlnet-1.1.455.tar.gz \
	tests/e2e/webui/controlnet-requirements.txt tests/e2e/webui/build_real_webui.sh
REAL_WEBUI_STAMP := $(REAL_WEBUI_VENV)/.installed-$(shell cat $(REAL_WEBUI_INPUTS) | sha256sum | cut -c1-16)

.PHONY: demo test lint typecheck openapi lambda-layer webui-venv webui-real chromium checkov fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned here, not in pyproject: the container takes torch from its CUDA base image.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	# The CLIP BPE merges the inference tokenizer is built from; its own deps are not needed.
	$(BIN)/pip install -q --no-deps open-clip-torch==3.3.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sdcloud demo

# The pinned aws-cdk CLI (package-lock.json) and the Lambda dependency layer, for the infra tests.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

lambda-layer: $(STAMP)
	$(BIN)/python -m infrastructure.lambda_code

test: $(STAMP) $(WEBUI_STAMP) $(REAL_WEBUI_STAMP) $(CHROMIUM) $(CHECKOV_STAMP) node_modules/.package-lock.json lambda-layer lint typecheck
	$(WEBUI_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit/client tests/unit/panel
	$(BIN)/pytest -n 2 --dist loadfile

$(WEBUI_STAMP): pyproject.toml webui_extension/requirements-webui.lock
	test -x $(WEBUI_VENV)/bin/python || $(PYTHON310) -m venv $(WEBUI_VENV)
	$(WEBUI_VENV)/bin/pip install -q --no-deps -r webui_extension/requirements-webui.lock
	$(WEBUI_VENV)/bin/pip install -q -e '.[client]'
	touch $(WEBUI_STAMP)

webui-venv: $(WEBUI_STAMP)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

$(REAL_WEBUI_STAMP): $(REAL_WEBUI_INPUTS)
	tests/e2e/webui/build_real_webui.sh $(WEBUI_SHARED) $(REAL_WEBUI_BUILD) $(REAL_WEBUI_VENV) $(PYTHON310) \
		tests/e2e/webui/controlnet-requirements.txt
	touch $@

webui-real: $(REAL_WEBUI_STAMP)

# The browser tests drive Debian chromium; Playwright never downloads a browser of its own.
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

chromium: $(CHROMIUM)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy api_schema lambdas inference_image sdcloud sdcloud_client sdcloud_panel sdcloud_tools infrastructure

# schemathesis over every route against a local stack, as long as it takes: 0 server errors, 10,000+ requests.
fuzz: $(STAMP)
	$(BIN)/python -m tests.e2e.fuzzing --max-examples 300 --min-requests 10000

openapi: $(STAMP)
	$(BIN)/python -m lambdas.api.openapi
