"""A job with a webhook_url that ends (notifier, sweeper, cancel) puts one message on the webhook queue; the delivery
re-checks the URL on what the host resolves to now, and backs off a failed attempt."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from async_flow_helpers import (
    aws_error,
    failure_notification,
    publish,
    put_in_progress_job,
    success_notification,
    write_failure,
    write_success,
)

from api_schema.jobs import CANCELLED, InferenceFailure
from lambdas.data import webhook_secrets
from lambdas.data.aws import client
from lambdas.data.jobs import get_job, jobs_table, mark_cancelled
from lambdas.functions import WEBHOOK_MAX_RECEIVES
from lambdas.logic.webhook_delivery import DeliveryFailed, backoff_seconds, deliver, handle_message
from lambdas.settings import Settings, settings
from lambdas.sweeper import handler as sweep

URL = "https://hooks.example.com/sdcloud"


def with_webhook(job_id, url=URL):
    jobs_table().update_item(Key={"id": job_id}, UpdateExpression="SET webhook_url = :u",
                             ExpressionAttributeValues={":u": url})


def webhook_messages(aws):
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=aws.webhook_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_each_ending_of_a_job_with_a_webhook_url_is_announced_once(aws, run_notifier):
    put_in_progress_job("hooked")
    with_webhook("hooked")
    put_in_progress_job("plain")
    note = success_notification("hooked", write_success("hooked"))
    publish(note)
    publish(note)  # SNS delivers at least once
    publish(success_notification("plain", write_success("plain")))

    run_notifier()

    assert webhook_messages(aws) == [{"job_id": "hooked", "webhook_id": "msg_hooked"}]


def test_a_notification_whose_webhook_could_not_be_queued_is_acknowledged_and_left_to_the_sweeper(aws, run_notifier):
    # Given: a job with a webhook_url, marked for the outbox as submit marks it, and SQS refusing the message
    put_in_progress_job("unlucky")
    with_webhook("unlucky")
    jobs_table().update_item(Key={"id": "unlucky"}, UpdateExpression="SET announce = :a",
                             ExpressionAttributeValues={":a": "1"})
    publish(success_notification("unlucky", write_success("unlucky")))

    with aws_error(client("sqs"), "SendMessage", "ServiceUnavailable", 503, when=lambda _: True):
        _, failed = run_notifier()

    # Then: the notification is done (a retry would find the job ended and announce nothing); the mark stays
    job = get_job("unlucky")
    assert failed == [] and job is not None and job.status == "succeeded" and job.announce == "1"
    assert webhook_messages(aws) == []


def test_a_cancel_is_announced_once_by_the_transition_that_ends_the_job(aws, run_notifier):
    # Given: one job the container stopped before the API's update came, its Cancelled answer delivered twice;
    # and one the API cancelled (and announced) already, whose container answers Cancelled, then succeeds late
    cancelled = InferenceFailure(job_id="stopped", status_code=409, type=CANCELLED, message="the job was cancelled")
    put_in_progress_job("stopped")
    with_webhook("stopped")
    answer = failure_notification("stopped", "ClientError (409)", write_failure("stopped", cancelled))
    put_in_progress_job("skipped")
    with_webhook("skipped")
    assert mark_cancelled("skipped")
    late = failure_notification("skipped", "ClientError (409)",
                                write_failure("skipped", cancelled.model_copy(update={"job_id": "skipped"})))
    for note, error in ((answer, True), (answer, True), (late, True),
                        (success_notification("skipped", write_success("skipped")), False)):
        publish(note, error=error)

    # When: the notifier runs
    assert run_notifier()[1] == []

    # Then: the job the notifier ended is announced once; the one the API ended gets nothing more
    assert [getattr(get_job(j), "status", None) for j in ("stopped", "skipped")] == ["cancelled", "cancelled"]
    assert webhook_messages(aws) == [{"job_id": "stopped", "webhook_id": "msg_stopped"}]


def test_the_sweepers_failure_of_an_overdue_job_is_announced(aws):
    put_in_progress_job("overdue", deadline=int(time.time()) - 10)
    with_webhook("overdue")

    sweep({}, None)

    assert webhook_messages(aws) == [{"job_id": "overdue", "webhook_id": "msg_overdue"}]


def test_a_host_that_now_resolves_to_an_internal_address_gets_nothing(aws, run_notifier):
    put_in_progress_job("rebound")
    with_webhook("rebound")
    publish(success_notification("rebound", write_success("rebound")))
    run_notifier()
    webhook_secrets.put_secret("alice", "whsec_" + "A" * 43 + "=")

    delivered = deliver("rebound", "msg_rebound", resolve=lambda host, port: ["169.254.169.254"])

    assert delivered.dropped and "169.254.169.254" in delivered.detail


def test_a_failed_attempt_comes_back_after_its_backoff(aws, run_notifier, monkeypatch):
    put_in_progress_job("refused")
    with_webhook("refused", "http://127.0.0.1:9/closed")  # nothing listens on the discard port
    monkeypatch.setenv("SDCLOUD_WEBHOOK_ALLOW_LOOPBACK", "true")
    settings.cache_clear()
    webhook_secrets.put_secret("alice", "whsec_" + "A" * 43 + "=")
    publish(success_notification("refused", write_success("refused")))
    run_notifier()
    sqs = boto3.client("sqs")
    message = sqs.receive_message(QueueUrl=aws.webhook_queue_url, AttributeNames=["All"])["Messages"][0]
    calls = []
    monkeypatch.setattr("lambdas.data.webhook_queue.retry_after", lambda handle, seconds: calls.append(seconds))

    with pytest.raises(DeliveryFailed, match="could not be reached"):
        handle_message(message["Body"], 3, message["ReceiptHandle"])

    assert calls == [backoff_seconds(3, settings().webhook_retry_seconds)] == [120]


def test_the_default_backoff_retries_for_more_than_an_hour_before_the_dead_letter_queue():
    first = Settings.model_fields["webhook_retry_seconds"].default
    waits = [backoff_seconds(receive, first) for receive in range(1, WEBHOOK_MAX_RECEIVES)]

    assert waits[:3] == [30, 60, 120] and max(waits) == 900
    assert sum(waits) >= 3600
