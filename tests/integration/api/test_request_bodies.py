"""Whatever the body, the real API handler answers a 4xx `{"message", "field"}` or success, never a 5xx.

Each body goes through the local API Gateway emulation (bytes in, as a client sends them) to the real
authorizer and handler, on every route that reads a body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from gateway_events import Gateway

from lambdas.logic.json_text import MAX_JSON_DEPTH

BODY_ROUTES = ["/users", "/models", "/models/m1/complete", "/endpoints", "/inferences"]
JSON_TYPE = "application/json"


def send(gateway: Gateway, key: str, path: str, body: bytes, content_type: str | None = JSON_TYPE,
         method: str = "POST") -> tuple[int, Any]:
    headers = [("x-api-key", key), *([("Content-Type", content_type)] if content_type else [])]
    status, _, data = gateway.gateway.handle(method, path, headers, body)
    return status, json.loads(data)


def assert_error(answer: tuple[int, Any], status: int, field: str | None = None) -> str:
    code, body = answer
    assert code == status, body
    assert set(body) >= {"message", "field"} and body["message"], body
    assert body["field"] == field, body
    return str(body["message"])


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"name": "caf\u00e9"}'.encode("latin-1"), id="latin-1"),
        pytest.param(b'{"name": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param('{"name": "alice"}'.encode("utf-16"), id="utf-16-with-bom"),
        pytest.param('{"name": "alice"}'.encode("utf-16-le"), id="utf-16-le"),
    ],
)
def test_a_body_that_is_not_utf8_is_400(gateway, admin_key, path, body):
    message = assert_error(send(gateway, admin_key, path, body), 400)

    assert "UTF-8" in message


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data", "multipart/form-data; boundary=x",
     "application/x-www-form-urlencoded", "application/json; charset=utf-16", "json", ";;", "application/jsonx"],
)
def test_a_body_of_another_content_type_is_415_in_the_error_shape(gateway, admin_key, path, content_type):
    message = assert_error(send(gateway, admin_key, path, b'{"name": "alice"}', content_type), 415, "Content-Type")

    assert "application/json" in message or "UTF-8" in message


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain"])
def test_an_empty_body_of_another_content_type_is_415_too(gateway, admin_key, content_type):
    assert_error(send(gateway, admin_key, "/users", b"", content_type), 415, "Content-Type")


@pytest.mark.parametrize("content_type", [None, "application/json", "Application/JSON; charset=UTF-8"])
def test_json_is_read_with_or_without_its_content_type_in_any_case(gateway, admin_key, content_type):
    status, body = send(gateway, admin_key, "/users", b'{"name": "carol"}', content_type)

    assert status == 201, body


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_a_body_nested_too_deep_is_400_before_it_is_parsed(gateway, admin_key, path, depth):
    message = assert_error(send(gateway, admin_key, path, nested(depth).encode()), 400)

    assert f"deeper than {MAX_JSON_DEPTH}" in message


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a": ' * 50_000, "]" * 100 + "[" * 100])
def test_unmatched_brackets_of_any_depth_are_400(gateway, admin_key, body):
    assert_error(send(gateway, admin_key, "/users", body.encode()), 400)


def test_a_payload_nested_too_deep_is_400(gateway, user_key):
    body = '{"endpoint_name": "sd", "task": "txt2img", "payload": {"prompt": "x", "extra": ' + nested(100_000) + "}}"

    assert_error(send(gateway, user_key, "/inferences", body.encode()), 400)


def test_brackets_inside_strings_do_not_count_as_nesting(gateway, admin_key):
    deep_looking = json.dumps({"name": "dave", "role": "user", "note": "[" * 1000 + '\\"{' * 1000})

    message = assert_error(send(gateway, admin_key, "/users", deep_looking.encode()), 400, "note")

    assert message == "note: Extra inputs are not permitted"  # the body was parsed and validated


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_oversized_strings_in_every_field_are_4xx(gateway, admin_key, path):
    huge = "x" * (4 * 1024 * 1024)
    for field in ("name", "type", "filename", "role", "endpoint_name", "task", "instance_type", "parts", "payload"):
        status, body = send(gateway, admin_key, path, json.dumps({field: huge}).encode())
        assert 400 <= status < 500, (field, status, body)
    status, body = send(gateway, admin_key, path, json.dumps({"parts": [{"part_number": 1, "etag": huge}]}).encode())
    assert 400 <= status < 500, body


@pytest.mark.parametrize("uploaded", [nested(100_000).encode(), '{"prompt": "x"}'.encode("utf-16")])
def test_an_uploaded_payload_is_checked_as_a_body_is(gateway, user_key, endpoint, uploaded):
    import requests

    created = gateway.post("/inferences", key=user_key,
                           json_body={"endpoint_name": endpoint, "task": "txt2img", "payload_upload": True})
    assert requests.put(created.body["payload_upload_url"], data=uploaded, timeout=30).status_code == 200

    job_id = created.body["inference"]["id"]
    assert_error(send(gateway, user_key, f"/inferences/{job_id}/start", b""), 400, "payload")
    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["status"] == "created"
