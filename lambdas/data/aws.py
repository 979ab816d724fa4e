"""Lazily created boto3 clients, one per service per process (Lambda reuses them across invocations)."""

from __future__ import annotations

from functools import cache
from typing import Any

from lambdas.settings import settings


@cache
def client(service: str) -> Any:
    import boto3  # lazy: keeps handler import fast
    from botocore.config import Config

    session: Any = boto3.session.Session()
    # SigV4 everywhere: presigned S3 URLs for KMS-encrypted objects need it.
    config = Config(signature_version="s3v4") if service == "s3" else None
    return session.client(service, region_name=settings().region, config=config)


@cache
def table(name: str) -> Any:
    import boto3

    return boto3.session.Session().resource("dynamodb", region_name=settings().region).Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests switch moto backends and settings between cases)."""
    client.cache_clear()
    table.cache_clear()
    settings.cache_clear()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (e.g. ConditionalCheckFailedException); None for any other."""
    from botocore.exceptions import ClientError

    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def error_message(exc: BaseException) -> str:
    """What AWS said about a refused call (the ClientError's message), or the error itself for any other."""
    from botocore.exceptions import ClientError

    return str(exc.response.get("Error", {}).get("Message")) if isinstance(exc, ClientError) else str(exc)
