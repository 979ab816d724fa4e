"""The powertools idempotency store on the idempotency table (key `id`, TTL attribute `expiration`)."""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import client
from lambdas.settings import settings


def persistence_layer() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=client("dynamodb"))
