"""Generate `api_schema/openapi.json` from the resolver: `make openapi` (a test fails when it drifts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

from lambdas.api.app import app

API_VERSION = "1.0.0"
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "api_schema" / "openapi.json"


def openapi_json() -> str:
    schema = app.get_openapi_json_schema(
        title="sd-cloud API",
        version=API_VERSION,
        summary="Stable Diffusion on SageMaker async GPU endpoints, for AUTOMATIC1111 WebUI users",
        description="Every route but GET /ping needs header x-api-key. Errors are 4xx JSON "
        '`{"message": ..., "field": ...}`; invalid input (body, query, path, payload) is always 400.',
        servers=[Server(url="/")],
        security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    )
    return json.dumps(as_served(json.loads(schema)), indent=2, sort_keys=True) + "\n"


def as_served(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the document say what the API does: validation errors are 400 (never 422), /ping needs no key."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    schema["paths"]["/ping"]["get"]["security"] = []
    schemas = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    return schema


def main() -> None:
    OPENAPI_PATH.write_text(openapi_json())
    print(f"wrote {OPENAPI_PATH}")


if __name__ == "__main__":
    main()
