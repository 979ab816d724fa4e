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
from dataclasses import dataclass
from typing import Any

API_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1"
PUBLIC = {("GET", "/ping")}


class LambdaContext:
    function_name = "sdcloud-api"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


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
        response = handler(event, LambdaContext())
        text = response.get("body")
        return Reply(response["statusCode"], json.loads(text) if text else None, response.get("multiValueHeaders", {}))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


def upload_parts(upload: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """PUT each part to its presigned URL (moto answers `requests` inside mock_aws); the parts to complete with."""
    import requests

    parts = []
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * upload["part_size"]
        response = requests.put(part["url"], data=data[start : start + upload["part_size"]], timeout=30)
        assert response.status_code == 200, response.text
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    return parts
