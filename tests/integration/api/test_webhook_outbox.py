"""The webhook outbox: a job with a webhook_url carries `announce` until its end is on the webhook queue, so an
enqueue that fails (or a Lambda that dies) after the job's transition is made good by the sweeper, once, under the
same webhook id; the caller that ended the job never sees the failure."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from test_inferences import job_item, submit, txt2img

from lambdas.data.dynamo import parse_iso
from lambdas.logic.results import Outcome, settle_failure
from lambdas.logic.sweeping import ANNOUNCE_GRACE_S, sweep

URL = "https://93.184.215.14/hooks/sdcloud"  # a public address literal: nothing to resolve


@pytest.fixture(autouse=True)
def checkpoint(ready_model):
    return ready_model("sd15", "checkpoint")


@pytest.fixture
def hooked(gateway, user_key, endpoint):
    """A factory: submit a job with a webhook_url (its owner has a secret); returns the job id."""
    assert gateway.post("/users/me/webhook-secret", key=user_key).status == 201

    def make() -> str:
        reply = submit(gateway, user_key, txt2img(), webhook_url=URL)
        assert reply.status == 202, reply.body
        return str(reply.body["inference"]["id"])

    return make


def queued(aws):
    """Drain the webhook queue: the bodies of the messages on it."""
    sqs, bodies = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=aws.webhook_queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=aws.webhook_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def ended_at(aws, job_id) -> int:
    return int(parse_iso(job_item(aws, job_id)["completed_at"]).timestamp())


@pytest.fixture
def failing(monkeypatch):
    """A factory: make the next `times` calls of `operation` (any AWS client) fail as AWS would."""
    from botocore.client import BaseClient

    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)
    left: dict[str, int] = {}

    def call(self, operation_name, params):
        if left.get(operation_name, 0) > 0:
            left[operation_name] -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "simulated"}}, operation_name)
        return original(self, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)

    def fail(operation: str, times: int = 1) -> None:
        left[operation] = times

    return fail


@pytest.mark.parametrize("ending", ["cancel", "notifier"])
def test_a_job_with_a_webhook_url_is_marked_until_its_end_is_queued(gateway, user_key, hooked, aws, ending):
    job_id = hooked()
    assert job_item(aws, job_id)["announce"] == "1"

    if ending == "cancel":
        assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202
    else:
        assert settle_failure(job_id, None, reason="the endpoint crashed") is Outcome.FAILED

    assert "announce" not in job_item(aws, job_id)
    assert queued(aws) == [{"job_id": job_id, "webhook_id": f"msg_{job_id}"}]


def test_a_job_without_a_webhook_url_never_carries_the_mark(gateway, user_key, endpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    assert "announce" not in job_item(aws, job_id)

    assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202

    assert "announce" not in job_item(aws, job_id) and queued(aws) == []
    assert sweep(ended_at(aws, job_id) + ANNOUNCE_GRACE_S + 1).outcomes == {}


def test_a_webhook_whose_enqueue_failed_is_queued_once_by_the_sweeper_after_the_grace_period(
        gateway, user_key, hooked, aws, failing):
    # Given: a job whose cancel ended it while SQS refused the webhook's message
    job_id = hooked()
    failing("SendMessage")

    answer = gateway.post(f"/inferences/{job_id}/cancel", key=user_key)

    # Then: the cancel took effect and says so; the job is still marked and nothing is queued
    assert answer.status == 202 and answer.body["inference"]["status"] == "cancelled"
    assert job_item(aws, job_id)["announce"] == "1" and queued(aws) == []
    end = ended_at(aws, job_id)

    # When: the sweeper runs within the grace period, nothing is sent
    assert sweep(end + ANNOUNCE_GRACE_S - 1).outcomes == {} and queued(aws) == []

    # When: it runs past the grace period, the webhook is queued once and the mark is gone
    report = sweep(end + ANNOUNCE_GRACE_S + 1)
    assert report.outcomes == {job_id: Outcome.ANNOUNCED} and report.errors == {}
    assert queued(aws) == [{"job_id": job_id, "webhook_id": f"msg_{job_id}"}]
    assert "announce" not in job_item(aws, job_id)

    # And: a later run queues nothing more
    assert sweep(end + 600).outcomes == {} and queued(aws) == []


def test_a_refused_job_whose_enqueue_failed_is_still_answered_and_later_announced(hooked, aws, failing):
    failing("InvokeEndpointAsync")
    failing("SendMessage")

    job_id = hooked()  # a 202 with the failed job, not a 5xx

    assert job_item(aws, job_id)["status"] == "failed" and job_item(aws, job_id)["announce"] == "1"
    assert sweep(ended_at(aws, job_id) + ANNOUNCE_GRACE_S + 1).outcomes == {job_id: Outcome.ANNOUNCED}
    assert queued(aws) == [{"job_id": job_id, "webhook_id": f"msg_{job_id}"}]


def test_one_jobs_aws_error_is_reported_and_retried_while_the_others_are_queued(gateway, user_key, hooked, aws,
                                                                                failing):
    jobs = [hooked(), hooked()]
    failing("SendMessage", times=2)
    for job_id in jobs:
        assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202
    later = max(ended_at(aws, job_id) for job_id in jobs) + ANNOUNCE_GRACE_S + 1

    failing("SendMessage")  # the sweep's first send (the oldest end first)
    first = sweep(later)

    assert list(first.errors) == [jobs[0]] and "ServiceUnavailable" in first.errors[jobs[0]]
    assert first.outcomes == {jobs[1]: Outcome.ANNOUNCED}
    assert sweep(later).outcomes == {jobs[0]: Outcome.ANNOUNCED}
    assert sorted(body["job_id"] for body in queued(aws)) == sorted(jobs)


def test_a_send_whose_mark_was_not_removed_is_sent_again_under_the_same_webhook_id(gateway, user_key, hooked, aws):
    from lambdas.data import jobs

    job_id = hooked()
    clear = jobs.clear_announce
    calls = []

    def clear_fails_once(ident):
        calls.append(ident)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "simulated"}}, "UpdateItem")
        return clear(ident)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs, "clear_announce", clear_fails_once)
        assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202
        assert job_item(aws, job_id)["announce"] == "1"
        assert sweep(ended_at(aws, job_id) + ANNOUNCE_GRACE_S + 1).outcomes == {job_id: Outcome.ANNOUNCED}

    # at least once: two messages, one webhook id, which receivers deduplicate on
    assert queued(aws) == [{"job_id": job_id, "webhook_id": f"msg_{job_id}"}] * 2
    assert "announce" not in job_item(aws, job_id)


def test_the_sweeper_finds_them_with_a_query_on_the_index_never_a_scan(gateway, user_key, hooked, aws, failing,
                                                                         api_calls):
    job_id = hooked()
    failing("SendMessage")
    assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202
    api_calls.clear()

    assert sweep(ended_at(aws, job_id) + ANNOUNCE_GRACE_S + 1).outcomes == {job_id: Outcome.ANNOUNCED}

    operations = [call.operation for call in api_calls]
    assert not [op for op in operations if op.endswith("Scan")]
    assert {call.params.get("IndexName") for call in api_calls if call.operation == "DynamoDB.Query"} == {
        "by_deadline", "by_announce"}
