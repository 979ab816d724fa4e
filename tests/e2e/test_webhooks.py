"""Signed completion webhooks on the real local stack: a receiver on the loopback gets each ended job once,
signed with the owner's secret (verified with the `standardwebhooks` library), cancelled jobs too (queued or
running), and a receiver that fails at first gets it on a retry (the local stack retries after 1 s, 2 s, ...:
its `webhook_retry_seconds`)."""

from __future__ import annotations

import json
import time

import boto3
from e2e_helpers import Api, poll, tiny_payload, wait_job
from standardwebhooks import Webhook
from webhook_receiver import Receiver, webhook_receiver

from api_schema import s3_layout
from sdcloud_client import SdCloudClient

QUIET_S = 4  # how long no further delivery may arrive after the expected ones


def submit(user: Api, endpoint: str, payload: dict, webhook_url: str) -> str:
    body = {"endpoint_name": endpoint, "task": "txt2img", "payload": payload, "webhook_url": webhook_url}
    return str(user.ok("POST", "/inferences", 202, json=body)["inference"]["id"])


def wait_deliveries(receiver: Receiver, count: int, timeout: float = 60) -> None:
    poll(lambda: len(receiver.received), lambda n: n >= count, timeout=timeout)
    time.sleep(QUIET_S)


def test_each_ended_job_is_delivered_once_signed_with_the_owners_secret(user, models, endpoint):
    secret = user.ok("POST", "/users/me/webhook-secret", 201)["secret"]
    with webhook_receiver() as receiver:
        ids = [submit(user, endpoint, tiny_payload(models, seed=seed), receiver.url) for seed in (1, 2)]
        jobs = {job_id: wait_job(user, job_id) for job_id in ids}
        wait_deliveries(receiver, 2)

    assert [job["status"] for job in jobs.values()] == ["succeeded", "succeeded"]
    assert len(receiver.received) == 2 and {r.path for r in receiver.received} == {"/hooks/sdcloud"}
    for delivery in receiver.received:
        sent = Webhook(secret).verify(delivery.body, delivery.headers)
        job = sent["inference"]
        fetched = jobs[job["id"]]
        assert delivery.headers["webhook-id"] == f"msg_{job['id']}"
        assert delivery.headers["content-type"] == "application/json"
        assert {k: v for k, v in job.items() if k != "images"} == {k: v for k, v in fetched.items() if k != "images"}
        assert [i["key"] for i in job["images"]] == [i["key"] for i in fetched["images"]]
    assert {json.loads(r.body)["inference"]["id"] for r in receiver.received} == set(ids)


def test_a_receiver_that_fails_at_first_gets_the_delivery_on_a_retry_with_the_same_id(user, models, endpoint):
    client = SdCloudClient(user.url, user.key)  # the client core the CLI's `users webhook-secret` and --webhook-url use
    secret = client.rotate_webhook_secret()
    with webhook_receiver(500, 503) as receiver:
        job_id = client.create_inference(endpoint, "txt2img", tiny_payload(models, seed=3),
                                         webhook_url=receiver.url)["id"]
        assert wait_job(user, job_id)["status"] == "succeeded"
        wait_deliveries(receiver, 3)

    assert [r.answered for r in receiver.received] == [500, 503, 204]
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"msg_{job_id}"}
    last = receiver.received[-1]
    assert Webhook(secret).verify(last.body, last.headers)["inference"]["id"] == job_id


def test_a_job_cancelled_while_queued_or_running_is_delivered_once_as_cancelled(user, models, endpoint, local_stack):
    secret = user.ok("POST", "/users/me/webhook-secret", 201)["secret"]
    with webhook_receiver() as receiver:
        # Given: a long job running and another one queued behind it, both with a webhook_url
        long = tiny_payload(models, steps=150, n_iter=4)
        running, queued = (submit(user, endpoint, long, receiver.url) for _ in range(2))
        poll(lambda: user.ok("GET", f"/inferences/{running}")["inference"],
             lambda j: (j["progress"] or {}).get("step", 0) > 0, timeout=300, interval=0.2)

        # When: both are cancelled; the endpoint stops the running one (its Cancelled answer reaches the notifier,
        # which changes nothing) and goes on with a last job
        for job_id in (queued, running):
            assert user.ok("POST", f"/inferences/{job_id}/cancel", 202)["inference"]["status"] == "cancelled"
        last = user.ok("POST", "/inferences", 202, json={"endpoint_name": endpoint, "task": "txt2img",
                                                          "payload": tiny_payload(models, steps=1)})["inference"]
        assert wait_job(user, last["id"], timeout=120)["status"] == "succeeded"
        s3, bucket = boto3.client("s3"), local_stack.settings.bucket
        answer = s3.get_object(Bucket=bucket, Key=s3_layout.async_failure_key(running))["Body"].read()
        assert b'"Cancelled"' in answer
        wait_deliveries(receiver, 2)

    # Then: one signed delivery per cancelled job
    assert len(receiver.received) == 2
    sent = [Webhook(secret).verify(r.body, r.headers)["inference"] for r in receiver.received]
    assert sorted((job["id"], job["status"]) for job in sent) == sorted([(running, "cancelled"), (queued, "cancelled")])
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"msg_{running}", f"msg_{queued}"}
