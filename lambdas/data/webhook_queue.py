"""The webhook queue: a message per ended job that has a webhook_url (at least one: `lambdas.logic.webhooks`),
read by the delivery function.

Body: `{"job_id": ..., "webhook_id": ...}`. The delivery reads the job when it sends, so every attempt carries
the job as it is then (fresh image URLs), under the same webhook id.
"""

from __future__ import annotations

import json

from lambdas.data.aws import client
from lambdas.settings import settings


def send(job_id: str, webhook_id: str) -> None:
    body = json.dumps({"job_id": job_id, "webhook_id": webhook_id})
    client("sqs").send_message(QueueUrl=settings().webhook_queue_url, MessageBody=body)


def retry_after(receipt_handle: str, seconds: int) -> None:
    """Make a received message visible again in `seconds` (the backoff of a failed delivery)."""
    client("sqs").change_message_visibility(QueueUrl=settings().webhook_queue_url, ReceiptHandle=receipt_handle,
                                            VisibilityTimeout=seconds)
