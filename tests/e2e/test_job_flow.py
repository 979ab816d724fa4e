"""Many jobs at once, and the order the endpoint runs them in, on the real local stack."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
from e2e_helpers import Api, tiny_payload, wait_job

THREADS, JOBS_PER_THREAD = 5, 10


def _submit(user: Api, endpoint: str, payload: dict) -> str:
    body = {"endpoint_name": endpoint, "task": "txt2img", "payload": payload}
    return str(user.ok("POST", "/inferences", 202, json=body)["inference"]["id"])


def _all_listed(user: Api) -> list[str]:
    ids, token = [], None
    while True:
        page = user.ok("GET", "/inferences", params={"limit": 20, **({"next_token": token} if token else {})})
        ids += [job["id"] for job in page["inferences"]]
        token = page.get("next_token")
        if not token:
            return ids


def _success_outputs(local_stack) -> Counter[str]:
    """Job id of every response SageMaker (the emulator) wrote, counted: each must run exactly once."""
    s3 = boto3.client("s3")
    bucket = local_stack.settings.bucket
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="async/success/"):
        for item in page.get("Contents", []):
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            counts[manifest["job_id"]] += 1
    return counts


def test_fifty_jobs_submitted_from_several_threads_all_succeed_exactly_once(user, models, endpoint, local_stack):
    # Given: several threads, each submitting its jobs as fast as the API answers
    def submit_batch(thread: int) -> list[str]:
        return [_submit(user, endpoint, tiny_payload(models, steps=1, seed=thread * 100 + n))
                for n in range(JOBS_PER_THREAD)]

    with ThreadPoolExecutor(THREADS) as pool:
        ids = [job_id for batch in pool.map(submit_batch, range(THREADS)) for job_id in batch]

    # Then: 50 distinct jobs, all succeeded, each listed once and run once
    assert len(ids) == len(set(ids)) == THREADS * JOBS_PER_THREAD
    jobs = [wait_job(user, job_id, timeout=900) for job_id in ids]
    assert Counter(job["status"] for job in jobs) == {"succeeded": len(ids)}, [j.get("error") for j in jobs]
    assert len({job["images"][0]["key"] for job in jobs}) == len(ids)
    listed = _all_listed(user)
    assert len(listed) == len(set(listed)) and set(ids) <= set(listed)
    outputs = _success_outputs(local_stack)
    assert {job_id: outputs[job_id] for job_id in ids} == dict.fromkeys(ids, 1)


def test_the_endpoint_runs_jobs_in_submission_order(user, models, endpoint, local_stack):
    # Given: a queue of our own on the success topic, as a user could subscribe one on AWS
    sqs, sns, s3 = boto3.client("sqs"), boto3.client("sns"), boto3.client("s3")
    queue_url = sqs.create_queue(QueueName="e2e-order-watch")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=local_stack.settings.success_topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})

    # When: one heavier job, then several light ones, are submitted one after the other
    ids = [_submit(user, endpoint, tiny_payload(models, steps=6, width=128, height=128, seed=1))]
    ids += [_submit(user, endpoint, tiny_payload(models, steps=1, seed=n)) for n in range(5)]
    jobs = [wait_job(user, job_id, timeout=600) for job_id in ids]
    assert all(job["status"] == "succeeded" for job in jobs)

    # Then: the endpoint finished them in submission order (SageMaker's notifications, by event time),
    # and the jobs completed in that order too
    notices = []
    while len(notices) < len(ids):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        notices += [json.loads(m["Body"]) for m in batch.get("Messages", [])]
    bucket = local_stack.settings.bucket

    def job_of(notice: dict) -> str:
        key = notice["responseParameters"]["outputLocation"].removeprefix(f"s3://{bucket}/")
        return str(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["job_id"])

    finished = [job_of(n) for n in sorted(notices, key=lambda n: (n["eventTime"], n["receivedTime"]))]
    assert finished == ids
    completed = [job["completed_at"] for job in jobs]
    assert completed == sorted(completed)


def test_the_async_emulator_speaks_invoke_endpoint_async_to_boto3(local_stack, endpoint):
    from botocore.exceptions import ClientError

    runtime, s3 = boto3.client("sagemaker-runtime"), boto3.client("s3")
    bucket = local_stack.settings.bucket
    sagemaker_endpoint = f"{local_stack.settings.resource_prefix}-{endpoint}"  # the stack's IAM-scoped name

    # an unknown endpoint is SageMaker's ValidationError
    try:
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation=f"s3://{bucket}/x.json")
        raise AssertionError("expected a ValidationError")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ValidationError"
        assert "no-such-endpoint" in exc.response["Error"]["Message"]

    # a request the container refuses: boto3 gets the locations at once, the failure object appears there
    s3.put_object(Bucket=bucket, Key="inputs/direct.json", Body=b'{"job_id": "direct"}')
    answer = runtime.invoke_endpoint_async(EndpointName=sagemaker_endpoint, InputLocation=f"s3://{bucket}/inputs/direct.json",
                                           InferenceId="direct-1", InvocationTimeoutSeconds=60)
    assert answer["InferenceId"] == "direct-1"
    assert answer["OutputLocation"] == f"s3://{bucket}/async/success/direct-1.out"
    assert answer["FailureLocation"] == f"s3://{bucket}/async/failure/direct-1-error.out"
    deadline = time.monotonic() + 60
    while True:
        try:
            failure = json.loads(s3.get_object(Bucket=bucket, Key="async/failure/direct-1-error.out")["Body"].read())
            break
        except ClientError:
            assert time.monotonic() < deadline, "no failure object"
            time.sleep(0.2)
    assert failure["status_code"] == 400 and failure["type"] == "InvalidJob"
