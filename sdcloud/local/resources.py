"""Create the stack's storage and messaging on whatever AWS endpoint boto3 points at (moto, locally).

The tables come from `lambdas.data.tables`, the same definitions the CDK stack builds from; the queue
wiring (two topics -> one queue with raw delivery, a DLQ after 5 receives) mirrors the async-flow construct,
and the webhook queue (its own DLQ after WEBHOOK_MAX_RECEIVES) the webhooks construct.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from lambdas.data.tables import ALL_TABLES, TableSpec
from lambdas.functions import WEBHOOK_DELIVERY, WEBHOOK_MAX_RECEIVES
from lambdas.settings import Settings

MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class LocalResources:
    settings: Settings
    queue_url: str
    dlq_url: str
    webhook_queue_url: str
    webhook_dlq_url: str


def _key_schema(partition: str, sort: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort, "KeyType": "RANGE"})
    return schema


def create_table(dynamodb: Any, name: str, spec: TableSpec) -> None:
    attributes = {spec.key.partition: "S"}
    if spec.key.sort:
        attributes[spec.key.sort] = spec.key.sort_type
    for index in spec.indexes:
        attributes[index.key.partition] = "S"
        if index.key.sort:
            attributes[index.key.sort] = index.key.sort_type
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_schema(spec.key.partition, spec.key.sort),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in attributes.items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.key.partition, index.key.sort),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    dynamodb.create_table(**kwargs)
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )


def create_queue(sqs: Any, name: str, visibility_s: int, max_receives: int) -> tuple[str, str]:
    """A queue whose messages move to its own dead-letter queue after `max_receives`; returns both URLs."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
    attributes = {"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_s)}
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], dlq_url


def provision(prefix: str = "sdcloud", region: str = "us-east-1", **overrides: Any) -> LocalResources:
    """Create bucket, tables, topics, the results and webhook queues; return the settings that name them."""
    session = boto3.session.Session(region_name=region)
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    sns, sqs = session.client("sns"), session.client("sqs")

    bucket = f"{prefix}-data"
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]

    table_names = {spec.setting: f"{prefix}-{spec.setting.removesuffix('_table')}" for spec in ALL_TABLES}
    for spec in ALL_TABLES:
        create_table(dynamodb, table_names[spec.setting], spec)

    topics = {kind: sns.create_topic(Name=f"{prefix}-inference-{kind}")["TopicArn"] for kind in ("success", "error")}

    queue_url, dlq_url = create_queue(sqs, f"{prefix}-results", 60, MAX_RECEIVE_COUNT)
    webhook_queue_url, webhook_dlq_url = create_queue(
        sqs, f"{prefix}-webhooks", WEBHOOK_DELIVERY.timeout_s * 6, WEBHOOK_MAX_RECEIVES)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for topic_arn in topics.values():
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )

    settings = Settings.model_validate(
        dict(
            region=region,
            bucket=bucket,
            success_topic_arn=topics["success"],
            error_topic_arn=topics["error"],
            sagemaker_role_arn=f"arn:aws:iam::123456789012:role/{prefix}-sagemaker",
            inference_image_uri=f"123456789012.dkr.ecr.{region}.amazonaws.com/{prefix}-inference:latest",
            webhook_queue_url=webhook_queue_url,
            **table_names,
            **overrides,
        )
    )
    return LocalResources(settings=settings, queue_url=queue_url, dlq_url=dlq_url,
                          webhook_queue_url=webhook_queue_url, webhook_dlq_url=webhook_dlq_url)
