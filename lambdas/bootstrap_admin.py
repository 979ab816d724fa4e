"""How the first admin key comes to exist.

On AWS: a CloudFormation custom resource (behind the CDK Provider framework) runs `handler` on create and
update. It reads the key from the Secrets Manager secret at `settings.admin_secret_arn` (a plain string, or
JSON with an `api_key` field; the stack generates it) and writes user `admin` with the key's SHA-256 hash.
Retrieve the key with `aws secretsmanager get-secret-value --secret-id <arn>`. Delete leaves the user in place.

Locally: the local stack calls `create_local_admin()`, which writes the admin and returns its key.
"""

from __future__ import annotations

import json
from typing import Any

from lambdas.data.aws import client
from lambdas.logic.users import ADMIN_NAME, new_api_key, set_admin_key
from lambdas.settings import settings


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


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The CDK Provider framework's on-event handler: it answers CloudFormation, and turns a raise into FAILED."""
    if event["RequestType"] in ("Create", "Update"):
        set_admin_key(admin_key_from_secret(settings().admin_secret_arn))
    return {"PhysicalResourceId": f"sdcloud-user-{ADMIN_NAME}", "Data": {"UserName": ADMIN_NAME}}
