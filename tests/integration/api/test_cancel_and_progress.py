"""Cancel (owner only, ended jobs 409, the webhook of a cancelled job) and the progress of in_progress jobs: queued
behind how many, or running."""

from __future__ import annotations

import time
from types import SimpleNamespace

import boto3
import pytest
import requests
from standardwebhooks import Webhook
from test_inferences import finish, s3_keys, submit, txt2img

from api_schema import s3_layout
from api_schema.jobs import CANCELLED, InferenceFailure, JobProgress
from lambdas.data.results_store import S3Location
from lambdas.logic import progress as progress_logic
from lambdas.logic.results import Outcome, settle_failure
from lambdas.logic.webhook_delivery import handle_message
from lambdas.settings import settings
from tests.e2e.webhook_receiver import webhook_receiver


@pytest.fixture(autouse=True)
def checkpoint(ready_model):
    return ready_model("sd15", "checkpoint")


def report(aws, job_id, step, steps, eta_s=4.0, written_at=None, preview_step=None):
    """What the container writes while it runs the job."""
    progress = JobProgress(job_id=job_id, step=step, steps=steps, phase="sampling", eta_s=eta_s,
                           written_at=written_at or time.time(), preview_step=preview_step)
    boto3.client("s3").put_object(Bucket=aws.settings.bucket, Key=s3_layout.progress_key(job_id),
                                  Body=progress.model_dump_json().encode())


def test_cancelling_a_job_in_progress_ends_it_at_once_and_leaves_the_marker_for_the_container(
        gateway, user_key, endpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]

    answer = gateway.post(f"/inferences/{job_id}/cancel", key=user_key)

    assert answer.status == 202
    job = answer.body["inference"]
    assert job["status"] == "cancelled" and job["completed_at"] and job["progress"] is None
    assert s3_keys(aws, s3_layout.output_prefix(job_id)) == [s3_layout.cancel_key(job_id)]
    assert gateway.get("/inferences", key=user_key, query={"status": "cancelled"}).body["inferences"][0]["id"] == job_id


def test_a_cancelled_job_with_a_webhook_url_gets_one_signed_delivery(gateway, user_key, endpoint, aws, monkeypatch):
    monkeypatch.setenv("SDCLOUD_WEBHOOK_ALLOW_LOOPBACK", "true")  # as on the local stack
    settings.cache_clear()
    secret = gateway.post("/users/me/webhook-secret", key=user_key).body["secret"]
    sqs = boto3.client("sqs")
    with webhook_receiver() as receiver:
        job_id = submit(gateway, user_key, txt2img(), webhook_url=receiver.url).body["inference"]["id"]

        # When: it is cancelled, then its container answers Cancelled as it stops
        assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).status == 202
        failure = S3Location(aws.settings.bucket, s3_layout.async_failure_key(job_id))
        answer = InferenceFailure(job_id=job_id, status_code=409, type=CANCELLED, message="the job was cancelled")
        boto3.client("s3").put_object(Bucket=failure.bucket, Key=failure.key, Body=answer.model_dump_json().encode())
        assert settle_failure(job_id, failure, reason=None) is Outcome.UNCHANGED

        # Then: one webhook is queued, and delivered signed with the owner's secret
        messages = sqs.receive_message(QueueUrl=aws.webhook_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        assert len(messages) == 1
        assert not handle_message(messages[0]["Body"], 1, messages[0]["ReceiptHandle"]).dropped

    (delivery,) = receiver.received
    sent = Webhook(secret).verify(delivery.body, delivery.headers)["inference"]
    assert delivery.headers["webhook-id"] == f"msg_{job_id}"
    assert (sent["id"], sent["status"]) == (job_id, "cancelled") and sent["completed_at"]


def test_a_created_job_can_be_cancelled_and_then_not_started(gateway, user_key, endpoint):
    job_id = submit(gateway, user_key, payload_upload=True).body["inference"]["id"]

    assert gateway.post(f"/inferences/{job_id}/cancel", key=user_key).body["inference"]["status"] == "cancelled"

    started = gateway.post(f"/inferences/{job_id}/start", key=user_key)
    assert started.status == 409 and "cancelled" in started.message


def test_an_ended_job_cannot_be_cancelled_409_naming_its_status(gateway, user_key, endpoint, aws):
    done = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    finish(aws, done)
    cancelled = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    gateway.post(f"/inferences/{cancelled}/cancel", key=user_key)

    for job_id, status in ((done, "succeeded"), (cancelled, "cancelled")):
        answer = gateway.post(f"/inferences/{job_id}/cancel", key=user_key)
        assert answer.status == 409 and answer.body["field"] == "id"
        assert f"already ended: it is {status}" in answer.message
    assert gateway.get(f"/inferences/{done}", key=user_key).body["inference"]["status"] == "succeeded"


def test_only_the_owner_cancels(gateway, user_key, other_key, endpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]

    assert gateway.post(f"/inferences/{job_id}/cancel", key=other_key).status == 404

    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["status"] == "in_progress"
    assert s3_keys(aws, s3_layout.output_prefix(job_id)) == []


def test_a_cancelled_job_is_deleted_with_its_marker_and_progress(gateway, user_key, endpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    report(aws, job_id, 2, 20)
    gateway.post(f"/inferences/{job_id}/cancel", key=user_key)

    assert gateway.delete(f"/inferences/{job_id}", key=user_key).status == 204

    assert s3_keys(aws, "outputs/") == [] and s3_keys(aws, "inputs/") == []


def test_progress_says_running_with_its_step_or_queued_behind_the_jobs_not_yet_running(
        gateway, user_key, other_key, endpoint, aws, monkeypatch):
    first, second = (submit(gateway, user_key, txt2img()).body["inference"]["id"] for _ in range(2))
    third = submit(gateway, other_key, txt2img()).body["inference"]["id"]
    fourth = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    written_at = time.time()
    report(aws, first, step=5, steps=20, eta_s=6.0, written_at=written_at)
    # read 1 s after the report was written, however long the requests take on a loaded machine
    monkeypatch.setattr(progress_logic, "time", SimpleNamespace(time=lambda: written_at + 1))

    def progress(job_id, key=user_key):
        return gateway.get(f"/inferences/{job_id}", key=key).body["inference"]["progress"]

    running = progress(first)
    assert running["state"] == "running" and (running["step"], running["steps"]) == (5, 20)
    assert running["fraction"] == 0.25 and running["phase"] == "sampling" and running["eta_s"] == 5.0
    assert running["queue_position"] is None
    assert progress(second) == {**progress(second), "state": "queued", "queue_position": 0, "step": 0}
    assert progress(third, other_key)["queue_position"] == 1  # other users' jobs wait on the endpoint too
    assert progress(fourth)["queue_position"] == 2

    gateway.post(f"/inferences/{second}/cancel", key=user_key)
    listed = {j["id"]: j["progress"] for j in gateway.get("/inferences", key=user_key).body["inferences"]}
    assert listed[second] is None and listed[first]["state"] == "running"
    assert listed[fourth]["queue_position"] == 1

    finish(aws, first)
    assert progress(first) is None and progress(fourth)["queue_position"] == 1


def test_a_running_job_with_a_preview_links_it(gateway, user_key, endpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    report(aws, job_id, 3, 20)
    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["progress"]["preview_url"] is None

    boto3.client("s3").put_object(Bucket=aws.settings.bucket, Key=s3_layout.preview_key(job_id), Body=b"jpeg")
    report(aws, job_id, 6, 20, preview_step=5)

    url = gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["progress"]["preview_url"]
    assert requests.get(url, timeout=30).content == b"jpeg"


def test_a_cancel_that_the_notifier_ended_first_answers_202(gateway, user_key, endpoint, aws, monkeypatch):
    """The container can see the marker and the notifier end the job between the API's read and its update."""
    from lambdas.data import jobs
    from lambdas.logic import cancel as cancel_logic

    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    marker = cancel_logic.request_cancel

    def marker_then_notifier(ident: str) -> None:
        marker(ident)
        assert jobs.mark_cancelled(ident) is not None  # the notifier's transition wins

    monkeypatch.setattr(cancel_logic, "request_cancel", marker_then_notifier)
    answer = gateway.post(f"/inferences/{job_id}/cancel", key=user_key)

    assert answer.status == 202 and answer.body["inference"]["status"] == "cancelled"
