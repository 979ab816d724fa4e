"""How the first admin key comes to exist.

On AWS: a CloudFormation custom resource runs `handler` on create and update. It reads the key from the
Secrets Manager secret at `settings.admin_secret_arn` (a plain string, or JSON with an `api_key` field;
the stack generates it) and writes user `admin` with the key's SHA-256 hash. Retrieve the key with
`aws secretsmanager get-secret-value --secret-id <arn>`. Delete leaves the user in place.

Locally: the local stack calls `create_local_admin()`, which writes the admin and returns its key.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from lambdas.data.aws import client
from lambdas.logic.users import ADMIN_NAME, new_api_key, set_admin_key
from lambdas.settings import settings

log = logging.getLogger(__name__)


def admin_key_from_secret(secret_arn: str) -> str:
    value = client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        return str(value)
    return str(parsed["api_key"]) if isinstance(parsed, dict) else str(value)


def create_local_admin(api_key: str | None = None) -> str:
    """Write user `admin` with `api_key` (a fresh one when None) and return the key."""
    key = api_key or new_api_key()
    set_admin_key(key)
    return key


def _respond(event: dict[str, Any], status: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "see the function's CloudWatch logs",
            "PhysicalResourceId": event.get("PhysicalResourceId") or f"sdcloud-user-{ADMIN_NAME}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"UserName": ADMIN_NAME},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def handler(event: dict[str, Any], context: Any) -> None:
    try:
        if event["RequestType"] in ("Create", "Update"):
            set_admin_key(admin_key_from_secret(settings().admin_secret_arn))
    except Exception as exc:  # CloudFormation must always get an answer, or the stack hangs for an hour
        log.exception("bootstrap admin failed")
        _respond(event, "FAILED", f"{type(exc).__name__}: {exc}")
        return
    _respond(event, "SUCCESS")
