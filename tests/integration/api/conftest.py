"""Call the API in-process as API Gateway would: the real authorizer first, then the resolver.

`gateway` mimics API Gateway's REST proxy integration: no x-api-key header -> 401 without calling the
authorizer (identity source missing); the authorizer raising "Unauthorized" -> 401; a policy that does not
allow the method ARN -> 403; otherwise the authorizer's context (values as strings) plus `principalId`
land in `requestContext.authorizer` of the proxy event the API handler receives.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

API_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1"
PUBLIC = {("GET", "/ping")}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, Any]

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


class Gateway:
    def __init__(self) -> None:
        self.authorizer_calls = 0

    def authorize(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        from lambdas import authorizer

        if not any(k.lower() == "x-api-key" and v for k, v in headers.items()):
            return 401, None
        self.authorizer_calls += 1
        event = {
            "type": "REQUEST",
            "methodArn": f"{API_ARN}/{method}{path}",
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "queryStringParameters": {},
            "requestContext": {"stage": "v1", "httpMethod": method, "path": f"/v1{path}"},
        }
        try:
            policy = authorizer.handler(event, None)
        except Exception as exc:
            assert str(exc) == "Unauthorized"
            return 401, None
        allowed = any(
            s["Effect"] == "Allow" and fnmatch.fnmatchcase(event["methodArn"], s["Resource"])
            for s in policy["policyDocument"]["Statement"]
        )
        if not allowed:
            return 403, None
        return 200, {**{k: str(v) for k, v in policy.get("context", {}).items()}, "principalId": policy["principalId"]}

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json_body: Any = None,
        raw_body: str | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        from lambdas.api.app import handler

        headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            headers["x-api-key"] = key
        context: dict[str, Any] | None = None
        if (method, path) not in PUBLIC:
            status, context = self.authorize(method, path, headers)
            if status != 200:
                return Reply(status, {"message": "Unauthorized" if status == 401 else "Forbidden"}, {})
        query = {k: str(v) for k, v in (query or {}).items() if v is not None}
        body = raw_body if raw_body is not None else (json.dumps(json_body) if json_body is not None else None)
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "pathParameters": None,
            "stageVariables": None,
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abcdef1234",
                "stage": "v1",
                "httpMethod": method,
                "path": f"/v1{path}",
                "requestId": uuid.uuid4().hex,
                "resourcePath": path,
                "identity": {"sourceIp": "127.0.0.1"},
                **({"authorizer": context} if context else {}),
            },
        }
        response = handler(event, None)
        text = response.get("body")
        return Reply(response["statusCode"], json.loads(text) if text else None, response.get("multiValueHeaders", {}))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def gateway(aws: Any) -> Gateway:
    return Gateway()


@pytest.fixture
def admin_key(aws: Any) -> str:
    """Given the first admin, created the way the local stack does."""
    from lambdas.bootstrap_admin import create_local_admin

    return create_local_admin()


@pytest.fixture
def user_key(gateway: Gateway, admin_key: str) -> str:
    """Given a plain user 'alice' created by the admin."""
    reply = gateway.post("/users", key=admin_key, json_body={"name": "alice", "role": "user"})
    assert reply.status == 201, reply.body
    return str(reply.body["api_key"])


@pytest.fixture
def other_key(gateway: Gateway, admin_key: str) -> str:
    """Given a second plain user 'bob'."""
    reply = gateway.post("/users", key=admin_key, json_body={"name": "bob"})
    assert reply.status == 201, reply.body
    return str(reply.body["api_key"])


@pytest.fixture
def api_calls() -> Iterator[list[str]]:
    """Every AWS API operation made while the test runs, in order (e.g. 'DynamoDB.Query')."""
    from botocore.client import BaseClient

    calls: list[str] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)

    def record(self: Any, operation_name: str, api_params: Any) -> Any:
        calls.append(f"{self.meta.service_model.service_id}.{operation_name}")
        return original(self, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", record)
        yield calls
