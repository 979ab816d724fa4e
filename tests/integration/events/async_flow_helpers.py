"""Helpers for the event-side tests: jobs in flight, results in S3, SageMaker-shaped notifications."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from api_schema.jobs import InferenceFailure, InferenceManifest, Timings
from lambdas.data.dynamo import now_iso
from lambdas.data.jobs import PENDING, jobs_table
from lambdas.settings import settings


def put_in_progress_job(job_id: str, *, deadline: int | None = None, started_at: str | None = None) -> None:
    """An in_progress job with the layout of `lambdas.data.jobs` (the control plane's submit writes the same)."""
    jobs_table().put_item(
        Item={
            "id": job_id,
            "owner": "alice",
            "task": "txt2img",
            "endpoint_name": "sd-endpoint",
            "status": "in_progress",
            "created_at": started_at or now_iso(),
            "started_at": started_at or now_iso(),
            "input_key": f"inputs/{job_id}.json",
            "pending": PENDING,
            "queue": "sd-endpoint",
            "deadline": deadline if deadline is not None else int(time.time()) + 3900,
        }
    )


def write_images(job_id: str, count: int = 2) -> list[str]:
    s3 = boto3.client("s3")
    keys = [f"outputs/{job_id}/image_{n}.png" for n in range(count)]
    for key in keys:
        s3.put_object(Bucket=settings().bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n", ContentType="image/png")
    return keys


def manifest_for(job_id: str, images: list[str]) -> InferenceManifest:
    info = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64"
    return InferenceManifest(
        job_id=job_id,
        images=images,
        info=info,
        infotexts=[info] * len(images),
        parameters={"prompt": "a cat", "steps": 20, "cfg_scale": 7.5},
        seeds=[42 + n for n in range(len(images))],
        timings=Timings(load_s=1.5, inference_s=3.25, upload_s=0.5, total_s=5.25),
    )


def write_output(job_id: str, body: str) -> str:
    """What SageMaker stores from the container's response: `async/success/{id}.out`; returns its s3:// URI."""
    key = f"async/success/{job_id}.out"
    boto3.client("s3").put_object(Bucket=settings().bucket, Key=key, Body=body.encode())
    return f"s3://{settings().bucket}/{key}"


def write_success(job_id: str, image_count: int = 2) -> str:
    return write_output(job_id, manifest_for(job_id, write_images(job_id, image_count)).model_dump_json())


def write_failure(job_id: str, failure: InferenceFailure | str) -> str:
    """The container's error body as SageMaker stores it: `async/failure/{id}-error.out`."""
    key = f"async/failure/{job_id}-error.out"
    body = failure if isinstance(failure, str) else failure.model_dump_json()
    boto3.client("s3").put_object(Bucket=settings().bucket, Key=key, Body=body.encode())
    return f"s3://{settings().bucket}/{key}"


def _notification(job_id: str, status: str, response: dict[str, str], **extra: str) -> dict[str, Any]:
    return {
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T18:00:05.123Z",
        "receivedTime": "2026-11-25T18:00:00.456Z",
        "invocationStatus": status,
        **extra,
        "requestParameters": {
            "endpointName": "sd-endpoint",
            "inputLocation": f"s3://{settings().bucket}/inputs/{job_id}.json",
        },
        "responseParameters": response,
        "inferenceId": job_id,
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }


def success_notification(job_id: str, output_uri: str) -> dict[str, Any]:
    return _notification(job_id, "Completed", {"contentType": "application/json", "outputLocation": output_uri})


def failure_notification(job_id: str, reason: str, failure_uri: str | None = None) -> dict[str, Any]:
    response = {"contentType": "application/json"}
    if failure_uri:
        response["failureLocation"] = failure_uri
    return _notification(job_id, "Failed", response, failureReason=reason)


def publish(body: dict[str, Any] | str, *, error: bool = False) -> None:
    """Publish as SageMaker does: to the success or the error topic (raw delivery to the results queue)."""
    topic = settings().error_topic_arn if error else settings().success_topic_arn
    boto3.client("sns").publish(TopicArn=topic, Message=body if isinstance(body, str) else json.dumps(body))


def receive_batch(queue_url: str) -> list[dict[str, Any]]:
    sqs, messages = boto3.client("sqs"), []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


@contextmanager
def aws_error(
    aws_client: Any, operation: str, code: str, status: int, when: Callable[[dict[str, Any]], bool]
) -> Iterator[None]:
    """Make `operation` on this botocore client fail with `code` for the requests `when` selects."""
    from botocore.awsrequest import AWSResponse

    def fail(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not when(params):
            return None
        error = {
            "Error": {"Code": code, "Message": f"simulated {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://simulated", status, {}, None), error

    event = f"before-call.{aws_client.meta.service_model.service_id.hyphenize()}.{operation}"
    aws_client.meta.events.register(event, fail, unique_id=f"simulated-{event}")
    try:
        yield
    finally:
        aws_client.meta.events.unregister(event, unique_id=f"simulated-{event}")


def put_endpoint(name: str, *, min_instances: int = 0, max_instances: int | None = 2, updated_at: str) -> None:
    """An endpoints-table item as the control plane's POST /endpoints writes it."""
    from lambdas.data.endpoints import endpoints_table

    item: dict[str, Any] = {
        "name": name,
        "record_type": "endpoint",
        "instance_type": "ml.g5.xlarge",
        "min_instances": min_instances,
        "status": "Creating",
        "created_at": updated_at,
        "updated_at": updated_at,
    }
    if max_instances is not None:
        item["max_instances"] = max_instances
    endpoints_table().put_item(Item=item)


def endpoint_state_change(name: str, status: str, time: str, failure_reason: str | None = None) -> dict[str, Any]:
    """The EventBridge event SageMaker emits ("SageMaker Endpoint State Change")."""
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"
    detail: dict[str, Any] = {
        "EndpointName": name,
        "EndpointArn": arn,
        "EndpointConfigName": f"{name}-config",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "CurrentWeight": 1.0,
                "DesiredWeight": 1.0,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
            }
        ],
        "EndpointStatus": status,
        "CreationTime": 1795629600000,
        "LastModifiedTime": 1795629600000,
        "Tags": {},
    }
    if failure_reason:
        detail["FailureReason"] = failure_reason
    return {
        "version": "0",
        "id": f"event-{name}-{status}-{time}",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [arn],
        "detail": detail,
    }


@contextmanager
def count_calls(aws_client: Any, operation: str) -> Iterator[list[str]]:
    """Count the calls of `operation` on this botocore client (they still go through)."""
    calls: list[str] = []
    event = f"before-call.{aws_client.meta.service_model.service_id.hyphenize()}.{operation}"

    def count(**_: Any) -> None:
        calls.append(operation)

    aws_client.meta.events.register(event, count, unique_id=f"count-{event}")
    try:
        yield calls
    finally:
        aws_client.meta.events.unregister(event, unique_id=f"count-{event}")


def create_sagemaker_endpoint(name: str) -> None:
    """A SageMaker endpoint in moto (it is InService at once)."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sdcloud-sagemaker",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sdcloud-inference:latest"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
