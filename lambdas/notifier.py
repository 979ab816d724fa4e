"""Lambda: SageMaker async result notifications from the results SQS queue (batch, partial failures).

A record that raises (throttling, a transient AWS error) is reported in `batchItemFailures`, so only it
comes back after the visibility timeout, and after 5 receives it moves to the dead-letter queue. Anything
else, including a malformed body, is acknowledged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from lambdas.logic.notifications import handle_notification
from lambdas.logic.results import Outcome

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    handled = handle_notification(record.body)
    fields = {"message_id": record.message_id, "job_id": handled.job_id, "outcome": handled.outcome.value}
    if handled.outcome is Outcome.MALFORMED:
        logger.warning(f"malformed notification acknowledged: {handled.detail}", extra=fields)
    else:
        logger.info(handled.detail or "notification applied", extra=fields)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(process_partial_response(event, record_handler, processor, context))
