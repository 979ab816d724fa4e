"""Builders for the policy statements the functions list, so each list reads like the calls it allows."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct


def on_tables(
    actions: Sequence[str], *tables: dynamodb.ITable, indexes: Sequence[str] = ()
) -> iam.PolicyStatement:
    """`actions` on the tables and on the named indexes of each (`indexes` are Query targets)."""
    resources = [table.table_arn for table in tables]
    resources += [f"{table.table_arn}/index/{index}" for table in tables for index in indexes]
    return iam.PolicyStatement(actions=[f"dynamodb:{action}" for action in actions], resources=resources)


def on_objects(actions: Sequence[str], bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=[f"s3:{action}" for action in actions],
        resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
    )


def list_prefixes(bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
    )


def sagemaker_arn(scope: Construct, resource: str, prefix: str) -> str:
    """Every SageMaker `resource` (model, endpoint-config, endpoint) this stack names `{prefix}-...`."""
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=f"{prefix}-*")
