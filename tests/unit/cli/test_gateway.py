"""The local API Gateway answers as API Gateway does around the authorizer and the proxy integration.

The handlers here are small functions written for the test: what is under test is the gateway's
translation (events in, status codes out), not the real handlers (the e2e tests run those).
"""

from __future__ import annotations

import json

import pytest

from sdcloud.local.gateway import ApiGateway, policy_effect
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


def test_policy_evaluation_explicit_deny_wins_and_wildcards_match():
    stage = "arn:aws:execute-api:us-east-1:123456789012:local/local/*"
    both = {"Statement": [_policy("Allow", stage)["Statement"][0], _policy("Deny", ARN)["Statement"][0]]}

    assert policy_effect(_policy("Allow", stage), ARN) == "Allow"
    assert policy_effect(both, ARN) == "Deny"
    assert policy_effect(_policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:local/local/POST/*"), ARN) is None
