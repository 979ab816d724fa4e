# The two commands of the README: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := client,lambdas,inference,cli,ui,local,infra,dev

.PHONY: demo test lint typecheck openapi lambda-layer
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned here, not in pyproject: the container takes torch from its CUDA base image.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sdcloud demo

# The pinned aws-cdk CLI (package-lock.json) and the Lambda dependency layer, for the infra tests.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

lambda-layer: $(STAMP)
	$(BIN)/python -m infrastructure.lambda_code

test: $(STAMP) node_modules/.package-lock.json lambda-layer lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy api_schema lambdas inference_image sdcloud sdcloud_client sdcloud_panel infrastructure

openapi: $(STAMP)
	$(BIN)/python -m lambdas.api.openapi
