"""The event side's bookkeeping on the endpoints table (layout, reads and status writes: `lambdas.data.endpoints`):
note that an endpoint's autoscaling is registered."""

from __future__ import annotations

from lambdas.data.endpoints import endpoints_table


def mark_autoscaling_registered(name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        endpoints_table().update_item(
            Key={"name": name},
            UpdateExpression="SET autoscaling_registered = :yes",
            ConditionExpression="attribute_exists(#name)",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={":yes": True},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":  # deleted meanwhile: nothing to note
            raise
