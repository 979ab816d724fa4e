"""Call the API in-process through the local stack's API Gateway emulation (`sdcloud.local.gateway`).

It builds the REST proxy event the deployed API receives and treats the real authorizer as API Gateway
does: no x-api-key -> 401 without calling it; "Unauthorized" -> 401; a policy that does not allow the
method ARN -> 403; otherwise its context lands in `requestContext.authorizer`. A handler crash is a 502.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sdcloud.local.gateway import ApiGateway
from sdcloud.local.lambda_runtime import LambdaFunction


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


class Gateway:
    def __init__(self) -> None:
        from lambdas.authorizer import handler as authorizer

        self.authorizer_calls = 0

        def counted(event: Any, context: Any) -> Any:
            self.authorizer_calls += 1
            return authorizer(event, context)

        self.gateway = ApiGateway(LambdaFunction("api", "lambdas.api.app.handler"),
                                  LambdaFunction("authorizer", counted))

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
        headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            headers["x-api-key"] = key
        params = {k: v for k, v in (query or {}).items() if v is not None}
        raw_path = f"{path}?{urlencode(params)}" if params else path
        body = raw_body if raw_body is not None else (json.dumps(json_body) if json_body is not None else "")
        status, answer_headers, data = self.gateway.handle(method, raw_path, list(headers.items()), body.encode())
        return Reply(status, json.loads(data) if data else None, answer_headers)

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
