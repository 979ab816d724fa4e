"""What AWS itself does between the pieces, done by threads: event source mapping, EventBridge, schedules.

- `QueuePoller`: an SQS event source mapping: of the result notifier (batches of up to 10, partial batch
  responses: the items the handler reports as failed stay on the queue and come back, then go to the DLQ), and of
  the webhook delivery (whose failed items come back when the function's own backoff says, as on AWS).
- `EndpointWatcher`: SageMaker's "SageMaker Endpoint State Change" events. moto's endpoints are InService
  at once, so the watcher emits CREATING when one appears, starts the inference host, and emits IN_SERVICE
  once the host answers /ping (FAILED if it cannot start), UPDATING/IN_SERVICE when its config changes, and
  DELETING when it is gone.
- `Schedule`: the EventBridge schedule of the sweeper.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from sdcloud.local.inference_host import InferenceHost
from sdcloud.local.lambda_runtime import ACCOUNT, LambdaFunction

log = logging.getLogger(__name__)

RETRY_VISIBILITY_S = 2  # locally, a failed item comes back after 2 s rather than the queue's full timeout


class Loop:
    """A daemon thread calling `tick()` until stopped: again at once after a tick that found work (True),
    else after `interval` seconds; a failing tick is logged."""

    name = "loop"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sdcloud-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            busy = False
            try:
                busy = self.tick()
            except Exception:
                log.exception("%s failed; trying again", self.name)
            if not busy:
                self.stopping.wait(self.interval)

    def tick(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)


class QueuePoller(Loop):
    """`retry_visibility_s`: when a failed item comes back (None: when its visibility timeout, as the function
    may have set it, ends)."""

    def __init__(self, function: LambdaFunction, queue_url: str, region: str, interval: float = 0.05,
                 batch_size: int = 10, retry_visibility_s: int | None = RETRY_VISIBILITY_S) -> None:
        self.name = f"{function.name}-poller"
        super().__init__(interval)
        self.function, self.queue_url, self.region = function, queue_url, region
        self.batch_size, self.retry_visibility_s = batch_size, retry_visibility_s
        self.sqs: Any = boto3.session.Session(region_name=region).client("sqs")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

    def tick(self) -> bool:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [self.record(message) for message in messages]}
        try:
            response = self.function.invoke(event) or {}
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            log.exception("%s failed on a batch of %d; it will be retried", self.function.name, len(messages))
            failed = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        retry = [m for m in messages if m["MessageId"] in failed]
        if retry and self.retry_visibility_s is not None:
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_visibility_s}
                for i, m in enumerate(retry)])
        return True

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                       "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


@dataclass
class _Known:
    config_name: str
    status: str  # the last status announced, SageMaker event spelling


def eventbridge_event(detail_type: str, source: str, region: str, resources: list[str],
                      detail: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope a rule's Lambda target receives."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def endpoint_event(endpoint: dict[str, Any], status: str, region: str, failure_reason: str | None = None
                   ) -> dict[str, Any]:
    """An EventBridge "SageMaker Endpoint State Change" event for a DescribeEndpoint-like dict."""
    def millis(value: Any) -> float:
        return value.timestamp() * 1000 if isinstance(value, datetime) else float(value or 0)

    detail: dict[str, Any] = {
        "EndpointName": endpoint["EndpointName"],
        "EndpointArn": endpoint["EndpointArn"],
        "EndpointConfigName": endpoint.get("EndpointConfigName", ""),
        "ProductionVariants": [
            {"VariantName": v.get("VariantName"), "DesiredWeight": float(v.get("CurrentWeight", 1.0)),
             "DesiredInstanceCount": float(v.get("DesiredInstanceCount", v.get("CurrentInstanceCount", 1)))}
            for v in endpoint.get("ProductionVariants", [])
        ],
        "EndpointStatus": status,
        "CreationTime": millis(endpoint.get("CreationTime")),
        "LastModifiedTime": millis(endpoint.get("LastModifiedTime")),
        "Tags": {},
    }
    if failure_reason:
        detail["FailureReason"] = failure_reason
    return eventbridge_event("SageMaker Endpoint State Change", "aws.sagemaker", region,
                             [endpoint["EndpointArn"]], detail)


class EndpointWatcher(Loop):
    name = "endpoint-watcher"

    def __init__(self, handler: LambdaFunction, host: Callable[[], InferenceHost], region: str,
                 interval: float = 0.25, ready_timeout: float = 600) -> None:
        super().__init__(interval)
        self.handler, self.host, self.region, self.ready_timeout = handler, host, region, ready_timeout
        self.sagemaker: Any = boto3.session.Session(region_name=region).client("sagemaker")
        self.known: dict[str, _Known] = {}
        self.described: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()  # known/described are shared with the bring-up threads

    def tick(self) -> bool:
        with self._lock:
            self._compare()
        return False

    def _compare(self) -> None:
        current = {}
        for page in self.sagemaker.get_paginator("list_endpoints").paginate():
            for summary in page["Endpoints"]:
                current[summary["EndpointName"]] = summary
        for name in list(current):
            try:
                endpoint = self.sagemaker.describe_endpoint(EndpointName=name)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ValidationException":
                    raise
                del current[name]  # deleted since it was listed
                continue
            self.described[name] = endpoint
            known = self.known.get(name)
            if known is None:
                self.known[name] = _Known(endpoint["EndpointConfigName"], "CREATING")
                self.emit(endpoint, "CREATING")
                self._bring_up(endpoint)
            elif known.config_name != endpoint["EndpointConfigName"]:
                known.config_name, known.status = endpoint["EndpointConfigName"], "UPDATING"
                self.emit(endpoint, "UPDATING")
                self._bring_up(endpoint)
        for name in [n for n in self.known if n not in current]:
            del self.known[name]
            self.emit(self.described.pop(name), "DELETING")

    def _bring_up(self, endpoint: dict[str, Any]) -> None:
        threading.Thread(target=self._wait_in_service, args=(endpoint,), daemon=True,
                         name=f"sdcloud-bring-up-{endpoint['EndpointName']}").start()

    def _wait_in_service(self, endpoint: dict[str, Any]) -> None:
        problem = self.host().wait_ready(self.ready_timeout, self.stopping)
        if self.stopping.is_set():
            return
        name = endpoint["EndpointName"]
        with self._lock:
            known = self.known.get(name)
            if known is None:
                return  # deleted meanwhile
            known.status = "FAILED" if problem else "IN_SERVICE"
        self.emit(self.described.get(name, endpoint), known.status, problem)

    def emit(self, endpoint: dict[str, Any], status: str, failure_reason: str | None = None) -> None:
        with self._lock:
            try:
                self.handler.invoke(endpoint_event(endpoint, status, self.region, failure_reason))
            except Exception:
                log.exception("the endpoint-events handler failed on %s %s", endpoint["EndpointName"], status)


class Schedule(Loop):
    name = "schedule"

    def __init__(self, handler: LambdaFunction, rule_name: str, region: str, interval: float) -> None:
        super().__init__(interval)
        self.handler, self.rule_name, self.region = handler, rule_name, region

    def tick(self) -> bool:
        rule_arn = f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{self.rule_name}"
        self.handler.invoke(eventbridge_event("Scheduled Event", "aws.events", self.region, [rule_arn], {}))
        return False
