"""Users' webhook signing secrets in Secrets Manager: one secret per user, named `{resource_prefix}/webhook/{user}`,
encrypted with the webhook-secrets KMS key (`settings.webhook_secrets_key_arn`).

On AWS the API function may only write them (create, put a new value, describe whether one exists) and only the
delivery function may read them (GetSecretValue and the key's Decrypt): infrastructure/constructs/webhooks.py.
"""

from __future__ import annotations

from lambdas.data.aws import client
from lambdas.settings import settings

NOT_FOUND = "ResourceNotFoundException"


def name_prefix(resource_prefix: str) -> str:
    """Where every user's secret lives: the scope of the IAM statements on them."""
    return f"{resource_prefix}/webhook/"


def secret_name(user: str) -> str:
    return name_prefix(settings().resource_prefix) + user


def put_secret(user: str, value: str) -> None:
    """Create the user's secret, or make `value` its current version."""
    from botocore.exceptions import ClientError

    secrets = client("secretsmanager")
    name = secret_name(user)
    try:
        secrets.put_secret_value(SecretId=name, SecretString=value)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != NOT_FOUND:
            raise
    key = {"KmsKeyId": settings().webhook_secrets_key_arn} if settings().webhook_secrets_key_arn else {}
    try:
        secrets.create_secret(Name=name, SecretString=value, Description=f"sd-cloud webhook secret of {user}", **key)
    except ClientError as exc:  # created by a concurrent rotation meanwhile: this value wins
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
        secrets.put_secret_value(SecretId=name, SecretString=value)


def has_secret(user: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client("secretsmanager").describe_secret(SecretId=secret_name(user))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == NOT_FOUND:
            return False
        raise
    return True


def get_secret(user: str) -> str | None:
    """The user's current secret (the delivery function's call), or None when the user has none."""
    from botocore.exceptions import ClientError

    try:
        return str(client("secretsmanager").get_secret_value(SecretId=secret_name(user))["SecretString"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == NOT_FOUND:
            return None
        raise
