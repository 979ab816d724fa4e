"""Signed completion webhooks on the real local stack: a receiver on the loopback gets each ended job once,
signed with the owner's secret (verified with the `standardwebhooks` library), and a receiver that fails at
first gets it on a retry (the local stack retries after 1 s, 2 s, ...: its `webhook_retry_seconds`)."""

from __future__ import annotations

import json
import time

from e2e_helpers import Api, poll, tiny_payload, wait_job
from standardwebhooks import Webhook
from webhook_receiver import Receiver, webhook_receiver

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
