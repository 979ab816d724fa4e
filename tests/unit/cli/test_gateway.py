"""The local API Gateway answers as API Gateway does around the authorizer and the proxy integration.

The handlers here are small functions written for the test: what is under test is the gateway's
translation (events in, status codes out), not the real handlers (the e2e tests run those).
"""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from sdcloud.local.gateway import ApiGateway, GatewayServer, policy_effect
from sdcloud.local.lambda_runtime import LambdaFunction

ARN = "arn:aws:execute-api:us-east-1:123456789012:local/local/GET/users"


def _policy(effect: str, resource: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def authorizer(event, context):
    key = event["headers"].get("x-api-key")
    if key == "crash":
        raise RuntimeError("boom")
    if key not in ("good", "deny"):
        raise Exception("Unauthorized")
    effect = "Deny" if key == "deny" else "Allow"
    return {
        "principalId": "ann",
        "policyDocument": _policy(effect, event["methodArn"].rsplit("/", 2)[0] + "/*"),
        "context": {"user": "ann", "role": "user"},
    }


def echo(event, context):
    if event["path"] == "/crash":
        raise RuntimeError("handler bug")
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Echo": "1"},
        "body": json.dumps({"event": event, "remaining": context.get_remaining_time_in_millis()}),
    }


@pytest.fixture
def gateway() -> ApiGateway:
    return ApiGateway(LambdaFunction("api", echo), LambdaFunction("authorizer", authorizer))


def test_an_allowed_request_reaches_the_handler_as_a_rest_proxy_event(gateway):
    status, headers, body = gateway.handle(
        "POST",
        "/users/ann?limit=5&tag=a&tag=b",
        [("x-api-key", "good"), ("Content-Type", "application/json")],
        b'{"name": "ann"}',
    )

    assert status == 201 and headers["X-Echo"] == "1" and headers["x-amzn-RequestId"]
    answer = json.loads(body)
    event = answer["event"]
    assert event["httpMethod"] == "POST" and event["path"] == "/users/ann"
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["body"] == '{"name": "ann"}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["authorizer"]["user"] == "ann"
    assert event["requestContext"]["authorizer"]["principalId"] == "ann"
    assert 0 < answer["remaining"] <= 30_000


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 401), ("deny", 403), ("crash", 500)])
def test_the_authorizer_decides_before_the_handler_runs(gateway, key, status):
    headers = [("x-api-key", key)] if key else []

    answer_status, _, body = gateway.handle("GET", "/users", headers, b"")

    assert answer_status == status
    assert "event" not in json.loads(body)


def test_ping_needs_no_key(gateway):
    status, _, body = gateway.handle("GET", "/ping", [], b"")

    assert status == 201 and "authorizer" not in json.loads(body)["event"]["requestContext"]


def test_a_crashing_handler_is_a_502_and_a_huge_body_a_413(gateway):
    assert gateway.handle("GET", "/crash", [("x-api-key", "good")], b"")[0] == 502
    assert gateway.handle("POST", "/users", [("x-api-key", "good")], b"x" * (10 * 1024 * 1024 + 1))[0] == 413


@pytest.mark.parametrize(("size", "status"), [(6 * 1024 * 1024 - 64 * 1024, 201), (6 * 1024 * 1024 + 1, 413)])
def test_an_event_over_lambdas_6_mb_is_refused_as_on_aws(gateway, size, status):
    body = json.dumps({"image": "A" * size}).encode()

    answer_status, headers, data = gateway.handle("POST", "/users", [("x-api-key", "good")], body)

    assert answer_status == status
    if status == 413:
        answer = json.loads(data)
        assert set(answer) == {"message", "field"} and "payload_upload" in answer["message"]
        assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("deny", 403), ("crash", 500)])
def test_the_gateways_own_answers_speak_the_error_shape(gateway, key, status):
    answer_status, headers, data = gateway.handle("GET", "/users", [("x-api-key", key)] if key else [], b"")

    assert answer_status == status and headers["x-amzn-ErrorType"]
    answer = json.loads(data)
    assert set(answer) == {"message", "field"} and answer["message"] and answer["field"] is None


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "CONNECT", "PROPFIND", "BREW"])
def test_a_method_any_does_not_cover_is_a_json_403_over_http(gateway, method):
    server = GatewayServer(gateway)
    server.start()
    try:
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=10)
        connection.request(method, "/users", headers={"x-api-key": "good"})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        server.stop()

    assert response.status == 403 and response.getheader("Content-Type") == "application/json"
    assert answer == {"message": "Missing Authentication Token", "field": None}


def test_a_body_over_10_mb_is_drained_and_refused_over_http(gateway):
    server = GatewayServer(gateway)
    server.start()
    try:
        response = requests.post(f"{server.url}/users", data=b"x" * (11 * 1024 * 1024),
                                 headers={"x-api-key": "good"}, timeout=30)
    finally:
        server.stop()

    assert response.status_code == 413 and response.json()["field"] is None


def test_policy_evaluation_explicit_deny_wins_and_wildcards_match():
    stage = "arn:aws:execute-api:us-east-1:123456789012:local/local/*"
    both = {"Statement": [_policy("Allow", stage)["Statement"][0], _policy("Deny", ARN)["Statement"][0]]}

    assert policy_effect(_policy("Allow", stage), ARN) == "Allow"
    assert policy_effect(both, ARN) == "Deny"
    assert policy_effect(_policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:local/local/POST/*"), ARN) is None
