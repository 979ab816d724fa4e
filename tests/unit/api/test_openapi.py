"""api_schema/openapi.json is generated from the resolver (`make openapi`) and must not drift from it."""

from __future__ import annotations

import json
import re

from lambdas.api.openapi import OPENAPI_PATH, openapi_json

DESIGN_ROUTES = {
    ("get", "/ping"),
    ("post", "/users"), ("get", "/users"), ("delete", "/users/{name}"),
    ("get", "/users/me"),  # beyond the design table: "test connection" names the user (README, REST API)
    ("post", "/users/me/webhook-secret"),
    ("post", "/models"), ("post", "/models/{model_id}/complete"), ("get", "/models"), ("get", "/models/{model_id}"),
    ("delete", "/models/{model_id}"),
    ("post", "/endpoints"), ("get", "/endpoints"), ("get", "/endpoints/{name}"), ("delete", "/endpoints/{name}"),
    ("post", "/inferences"), ("post", "/inferences/{job_id}/start"), ("get", "/inferences"),
    ("get", "/inferences/{job_id}"), ("delete", "/inferences/{job_id}"),
    ("post", "/inferences/{job_id}/cancel"),
}


def test_the_committed_openapi_json_matches_the_handlers():
    assert OPENAPI_PATH.read_text() == openapi_json(), "api_schema/openapi.json drifted: run `make openapi`"


def test_it_has_every_route_of_the_design_with_the_key_scheme():
    schema = json.loads(openapi_json())

    routes = {(method, path) for path, operations in schema["paths"].items() for method in operations}
    assert routes == DESIGN_ROUTES
    key_scheme = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schema["components"]["securitySchemes"] == {"apiKey": key_scheme}
    assert schema["security"] == [{"apiKey": []}]
    assert schema["paths"]["/ping"]["get"]["security"] == []
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert operation["summary"] and operation["tags"]
            assert "422" not in operation["responses"]
            if path != "/ping":
                error = operation["responses"]["401"]["content"]["application/json"]["schema"]
                assert error["$ref"].endswith("/ErrorBody")


def test_every_reference_resolves():
    text = openapi_json()
    schemas = json.loads(text)["components"]["schemas"]

    assert {ref for ref in re.findall(r'"#/components/schemas/([^"]+)"', text)} <= set(schemas)
