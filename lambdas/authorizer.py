"""API Gateway REQUEST authorizer: header `x-api-key` -> the user whose key has that SHA-256 hash.

Allows every method of the API's stage (so a cached decision serves all routes; roles and ownership
are checked by the handlers) and passes `user` and `role` in the authorizer context. An unknown,
missing or revoked key raises "Unauthorized", which API Gateway answers with 401.
"""

from __future__ import annotations

from typing import Any

from lambdas.logic.users import authenticate

KEY_HEADER = "x-api-key"


def api_key_of(event: dict[str, Any]) -> str:
    headers = event.get("headers") or {}
    return next((value for name, value in headers.items() if name.lower() == KEY_HEADER and value), "")


def stage_arn(method_arn: str) -> str:
    """arn:aws:execute-api:region:account:api/stage/GET/path -> arn:aws:execute-api:region:account:api/stage/*"""
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    caller = authenticate(api_key_of(event))
    if caller is None:
        raise Exception("Unauthorized")  # the exact message API Gateway turns into a 401
    return {
        "principalId": caller.name,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn(event["methodArn"])}
            ],
        },
        "context": {"user": caller.name, "role": caller.role},
    }
