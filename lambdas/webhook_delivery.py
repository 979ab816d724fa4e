"""Lambda: completion webhooks from the webhook queue (batch, partial failures; lambdas.logic.webhook_delivery).

A failed delivery has already set when its message comes back (the backoff) and is reported in
`batchItemFailures`; after WEBHOOK_MAX_RECEIVES receives the queue moves it to its dead-letter queue (alarmed).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from lambdas.logic.webhook_delivery import handle_message

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    receives = int(record.attributes.approximate_receive_count or 1)
    fields = {"message_id": record.message_id, "receive_count": receives}
    try:
        handled = handle_message(record.body, receives, record.receipt_handle)
    except Exception as exc:
        logger.warning(f"webhook delivery failed, retried later: {exc}", extra=fields)
        raise
    fields["job_id"] = handled.job_id
    if handled.dropped:
        logger.warning(handled.detail, extra=fields)
    else:
        logger.info(handled.detail, extra=fields)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(process_partial_response(event, record_handler, processor, context))
