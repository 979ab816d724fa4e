"""The bucket (models, job inputs and outputs, async results) and the tables of DESIGN.md section 4."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from api_schema.s3_layout import ACCESS_LOGS, ASYNC, INPUTS
from lambdas.data.tables import ALL_TABLES, Key, TableSpec

INPUTS_EXPIRE = Duration.days(7)
ASYNC_EXPIRE = Duration.days(7)
UPLOADS_EXPIRE = Duration.days(2)  # unfinished multipart model uploads

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def _keys(key: Key) -> tuple[dynamodb.Attribute, dynamodb.Attribute | None]:
    """(partition key, sort key) as CDK attributes."""
    sort = dynamodb.Attribute(name=key.sort, type=_ATTRIBUTE_TYPES[key.sort_type]) if key.sort else None
    return dynamodb.Attribute(name=key.partition, type=dynamodb.AttributeType.STRING), sort


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, deletion_protection: bool) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if deletion_protection else RemovalPolicy.DESTROY
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOGS,
            lifecycle_rules=[
                s3.LifecycleRule(id="inputs", prefix=INPUTS, expiration=INPUTS_EXPIRE),
                s3.LifecycleRule(id="async", prefix=ASYNC, expiration=ASYNC_EXPIRE),
                s3.LifecycleRule(id="unfinished-uploads", abort_incomplete_multipart_upload_after=UPLOADS_EXPIRE),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.tables: dict[str, dynamodb.Table] = {
            spec.setting: self._table(spec, deletion_protection, removal) for spec in ALL_TABLES
        }

    def _table(self, spec: TableSpec, deletion_protection: bool, removal: RemovalPolicy) -> dynamodb.Table:
        partition, sort = _keys(spec.key)
        table = dynamodb.Table(
            self,
            spec.setting.removesuffix("_table").title().replace("_", ""),
            partition_key=partition,
            sort_key=sort,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            time_to_live_attribute=spec.ttl_attribute,
            removal_policy=removal,
        )
        for index in spec.indexes:
            partition, sort = _keys(index.key)
            table.add_global_secondary_index(index_name=index.name, partition_key=partition, sort_key=sort)
        return table

    def table_name_settings(self) -> dict[str, str]:
        return {setting: table.table_name for setting, table in self.tables.items()}
