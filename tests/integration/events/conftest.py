"""Fixtures for the event side: the real notifier run on batches that SNS delivered to the results queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from async_flow_helpers import aws_error, receive_batch, sqs_event

from lambdas.data.endpoints import endpoints_table
from lambdas.data.jobs import jobs_table


@pytest.fixture
def run_notifier(aws: Any) -> Callable[[], tuple[list[dict[str, Any]], list[str]]]:
    """When the queue is drained into one batch and the real handler runs on it, as the event source mapping would:
    acknowledged messages are deleted; failed ones become visible again (their visibility timeout ends at once).
    Returns (the messages, the ids reported failed)."""
    from lambdas.notifier import handler

    sqs = boto3.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def run() -> tuple[list[dict[str, Any]], list[str]]:
        messages = receive_batch(aws.queue_url)
        assert messages, "nothing was delivered to the results queue"
        response = handler(sqs_event(messages, queue_arn), None)
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return messages, failed

    return run


@pytest.fixture
def no_scans(aws: Any) -> Iterator[None]:
    """Lists are Queries: any Scan of the jobs or endpoints table fails the test."""
    with (
        aws_error(jobs_table().meta.client, "Scan", "ScanForbidden", 400, when=lambda _: True),
        aws_error(endpoints_table().meta.client, "Scan", "ScanForbidden", 400, when=lambda _: True),
    ):
        yield
