"""An emulator of SageMaker asynchronous inference, reached by boto3 as the `sagemaker-runtime` endpoint.

moto's `invoke_endpoint_async` writes nothing and publishes nothing, so the local stack points
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` here instead. It speaks the InvokeEndpointAsync REST protocol
(POST /endpoints/{name}/async-invocations, X-Amzn-SageMaker-* headers, 202 with InferenceId and the
output/failure locations), reads the endpoint's AsyncInferenceConfig from moto's control plane, and
runs each endpoint's invocations in order on one worker: input from S3 -> the real inference server ->
the response to `{S3OutputPath}/{id}.out` (or the error body to `{S3FailurePath}/{id}-error.out`) ->
the SNS success/error notification SageMaker publishes. `sagemaker_runtime_server` is its HTTP front.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from sdcloud.local.inference_host import InferenceHost, InvocationResult

log = logging.getLogger(__name__)

DEFAULT_INVOCATION_TIMEOUT_S = 900
DEFAULT_REQUEST_TTL_S = 6 * 3600
READY_TIMEOUT_S = 600


class InvocationError(Exception):
    """Answered to the caller as SageMaker's rest-json error (x-amzn-ErrorType + {"message"})."""

    def __init__(self, message: str, status: int = 400, code: str = "ValidationError") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class Invocation:
    endpoint_name: str
    inference_id: str
    input_location: str | None
    inline_body: bytes
    content_type: str
    accept: str
    timeout_s: int
    ttl_s: int
    output_location: str
    failure_location: str
    success_topic: str | None
    error_topic: str | None
    received: datetime = field(default_factory=lambda: datetime.now(UTC))


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/(.+)$", uri)
    if not match:
        raise InvocationError(f"'{uri}' is not an S3 URI (s3://bucket/key)")
    return match.group(1), match.group(2)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _int_header(headers: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = headers.get(name.lower())
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvocationError(f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise InvocationError(f"{name} must be between {low} and {high}")
    return value


class AsyncInferenceEmulator:
    def __init__(self, host: Callable[[], InferenceHost], region: str = "us-east-1") -> None:
        self.host = host
        session = boto3.session.Session(region_name=region)
        self.region = region
        self.sagemaker, self.s3, self.sns = session.client("sagemaker"), session.client("s3"), session.client("sns")
        self._queues: dict[str, queue.Queue[Invocation]] = {}
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- the API -------------------------------------------------------------------------------
    def submit(self, endpoint_name: str, headers: dict[str, str], body: bytes) -> Invocation:
        """Validate and enqueue one InvokeEndpointAsync call (headers lower-cased)."""
        for unsupported in ("x-amzn-sagemaker-s3outputpathextension", "x-amzn-sagemaker-filename"):
            if unsupported in headers:
                raise InvocationError(f"the local emulator does not support the {unsupported} header")
        input_location = headers.get("x-amzn-sagemaker-inputlocation")
        if bool(input_location) == bool(body):
            raise InvocationError("provide exactly one of InputLocation and Body")
        if input_location:
            split_s3_uri(input_location)
        config = self._async_config(endpoint_name)
        output_config = config.get("OutputConfig") or {}
        output_path = str(output_config.get("S3OutputPath", "")).rstrip("/")
        failure_path = str(output_config.get("S3FailurePath") or output_path).rstrip("/")
        notifications = output_config.get("NotificationConfig") or {}
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        invocation = Invocation(
            endpoint_name=endpoint_name,
            inference_id=inference_id,
            input_location=input_location,
            inline_body=body,
            content_type=headers.get("x-amzn-sagemaker-content-type", "application/json"),
            accept=headers.get("x-amzn-sagemaker-accept", "application/json"),
            timeout_s=_int_header(headers, "X-Amzn-SageMaker-InvocationTimeoutSeconds",
                                  DEFAULT_INVOCATION_TIMEOUT_S, 1, 3600),
            ttl_s=_int_header(headers, "X-Amzn-SageMaker-RequestTTLSeconds", DEFAULT_REQUEST_TTL_S, 60, 21600),
            output_location=f"{output_path}/{inference_id}.out",
            failure_location=f"{failure_path}/{inference_id}-error.out",
            success_topic=notifications.get("SuccessTopic"),
            error_topic=notifications.get("ErrorTopic"),
        )
        self._queue_for(endpoint_name).put(invocation)
        return invocation

    def _async_config(self, endpoint_name: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            endpoint = self.sagemaker.describe_endpoint(EndpointName=endpoint_name)
            config = self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        except ClientError as exc:
            raise InvocationError(f"Endpoint {endpoint_name} of account 123456789012 not found.") from exc
        if endpoint["EndpointStatus"] not in ("InService", "Updating"):
            raise InvocationError(f"Endpoint {endpoint_name} is not in service ({endpoint['EndpointStatus']}).")
        async_config = config.get("AsyncInferenceConfig")
        if not async_config or not (async_config.get("OutputConfig") or {}).get("S3OutputPath"):
            raise InvocationError(f"Endpoint {endpoint_name} is not an asynchronous inference endpoint.")
        return dict(async_config)

    # --- the per-endpoint workers ---------------------------------------------------------------
    def _queue_for(self, endpoint_name: str) -> queue.Queue[Invocation]:
        with self._lock:
            if endpoint_name not in self._queues:
                self._queues[endpoint_name] = queue.Queue()
                worker = threading.Thread(target=self._work, args=(endpoint_name,), daemon=True,
                                          name=f"sdcloud-async-{endpoint_name}")
                self._workers.append(worker)
                worker.start()
            return self._queues[endpoint_name]

    def _work(self, endpoint_name: str) -> None:
        pending = self._queues[endpoint_name]
        while not self._stop.is_set():
            try:
                invocation = pending.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.run(invocation)
            except Exception:
                log.exception("async invocation %s failed in the emulator", invocation.inference_id)

    def run(self, invocation: Invocation) -> None:
        waited = (datetime.now(UTC) - invocation.received).total_seconds()
        if waited > invocation.ttl_s:
            self._fail(invocation, f"Request expired: it waited {waited:.0f}s, more than RequestTTLSeconds")
            return
        if not self._endpoint_exists(invocation.endpoint_name):
            self._fail(invocation, f"Endpoint {invocation.endpoint_name} was deleted before the request ran")
            return
        host = self.host()
        not_ready = host.wait_ready(READY_TIMEOUT_S, self._stop)
        if not_ready:
            self._fail(invocation, f"ModelError: {not_ready}")
            return
        body = invocation.inline_body or self._read_input(invocation)
        if body is None:
            return
        try:
            result = host.invoke(body, invocation.content_type, invocation.accept, invocation.timeout_s)
        except requests.Timeout:
            self._fail(invocation, f"ModelError: the invocation timed out after {invocation.timeout_s}s")
            return
        except requests.RequestException as exc:
            self._fail(invocation, f"ModelError: the model container did not answer: {exc}")
            return
        if 200 <= result.status < 300:
            self._succeed(invocation, result)
        else:
            kind = "client" if result.status < 500 else "server"
            message = result.body.decode(errors="replace")[:1024]
            self._fail(invocation, f'ClientError: Received {kind} error ({result.status}) from primary with message '
                                   f'"{message}". See the endpoint logs for more information.', result)

    def _endpoint_exists(self, endpoint_name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.sagemaker.describe_endpoint(EndpointName=endpoint_name)
        except ClientError:
            return False
        return True

    def _read_input(self, invocation: Invocation) -> bytes | None:
        from botocore.exceptions import ClientError

        bucket, key = split_s3_uri(str(invocation.input_location))
        try:
            return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            self._fail(invocation, f"ClientError: could not read the input at {invocation.input_location}: {exc}")
            return None

    def _succeed(self, invocation: Invocation, result: InvocationResult) -> None:
        bucket, key = split_s3_uri(invocation.output_location)
        self.s3.put_object(Bucket=bucket, Key=key, Body=result.body, ContentType=result.content_type)
        self._notify(invocation, invocation.success_topic, {
            "invocationStatus": "Completed",
            "responseParameters": {"contentType": result.content_type,
                                   "outputLocation": invocation.output_location},
        })

    def _fail(self, invocation: Invocation, reason: str, result: InvocationResult | None = None) -> None:
        bucket, key = split_s3_uri(invocation.failure_location)
        body = result.body if result is not None else json.dumps({"message": reason}).encode()
        content_type = result.content_type if result is not None else "application/json"
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        self._notify(invocation, invocation.error_topic, {
            "invocationStatus": "Failed",
            "failureReason": reason,
            "responseParameters": {"contentType": content_type, "failureLocation": invocation.failure_location},
        })

    def _notify(self, invocation: Invocation, topic: str | None, outcome: dict[str, Any]) -> None:
        if not topic:
            return
        request = {"endpointName": invocation.endpoint_name, "contentType": invocation.content_type}
        if invocation.input_location:
            request["inputLocation"] = invocation.input_location
        message = {
            "awsRegion": self.region,
            "eventTime": _iso(datetime.now(UTC)),
            "receivedTime": _iso(invocation.received),
            **outcome,
            "requestParameters": request,
            "inferenceId": invocation.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        self.sns.publish(TopicArn=topic, Message=json.dumps(message))

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=5)
