"""Builders for the policy statements the functions list, so each list reads like the calls it allows."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct


def on_tables(actions: Sequence[str], *tables: dynamodb.ITable) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=[f"dynamodb:{action}" for action in actions], resources=[table.table_arn for table in tables]
    )


def query_indexes(*indexes: tuple[dynamodb.ITable, str]) -> iam.PolicyStatement:
    """Query on the named (table, index) pairs: every list is a Query on an index."""
    return iam.PolicyStatement(
        actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{index}" for table, index in indexes]
    )


def on_objects(actions: Sequence[str], bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=[f"s3:{action}" for action in actions],
        resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
    )


def list_keys(bucket: s3.IBucket) -> iam.PolicyStatement:
    """ListBucket, unconditioned: without it S3 answers 403 instead of 404 for a missing object, and the
    handlers' existence checks (HeadObject) need the 404. A prefix condition would not count for that."""
    return iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])


def sagemaker_arn(scope: Construct, resource: str, prefix: str) -> str:
    """Every SageMaker `resource` (model, endpoint-config, endpoint) this stack names `{prefix}-...`."""
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=f"{prefix}-*")
