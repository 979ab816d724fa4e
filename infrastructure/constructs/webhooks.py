"""Signed completion webhooks: the queue of ended jobs to deliver (with its dead-letter queue), the KMS key of the
users' signing secrets, and the delivery function.

The secrets (`{prefix}/webhook/{user}` in Secrets Manager, created at run time by the API) are encrypted with a key
of their own, so that two grants decide who can read them: only the delivery function may call GetSecretValue on
them and Decrypt with the key (through Secrets Manager); the API function may only create them and put new values.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from api_schema.s3_layout import OUTPUTS
from infrastructure.constructs.function import PythonFunction
from infrastructure.constructs.messaging import Messaging, encrypted_queue
from infrastructure.lambda_code import LambdaCode
from infrastructure.permissions import on_objects, on_tables
from lambdas.data.webhook_secrets import name_prefix
from lambdas.functions import WEBHOOK_BATCH_SIZE, WEBHOOK_DELIVERY, WEBHOOK_MAX_RECEIVES


class Webhooks(Construct):
    """Build the queues and the key first (the functions' settings name them), then `add_delivery`."""

    def __init__(self, scope: Construct, construct_id: str, *, messaging: Messaging, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.queues_key = messaging.queues_key
        self.secrets_key = kms.Key(
            self, "SecretsKey", enable_key_rotation=True, description="sd-cloud users' webhook signing secrets"
        )
        self.dead_letters = encrypted_queue(
            self, "DeadLetters", self.queues_key, retention_period=Duration.days(14)
        )
        self.queue = encrypted_queue(
            self,
            "Queue",
            self.queues_key,
            # the first receive's; a failed delivery sets its own backoff (lambdas/logic/webhook_delivery.py)
            visibility_timeout=Duration.seconds(WEBHOOK_DELIVERY.timeout_s * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=WEBHOOK_MAX_RECEIVES),
        )
        self.secret_arns = Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{name_prefix(prefix)}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.delivery: PythonFunction | None = None

    def _through_secrets_manager(self, *actions: str) -> iam.PolicyStatement:
        region = Stack.of(self).region
        return iam.PolicyStatement(
            actions=[f"kms:{action}" for action in actions],
            resources=[self.secrets_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        )

    def write_secrets(self) -> list[iam.PolicyStatement]:
        """Create a user's secret, put a new value, see whether one exists: never read one."""
        return [
            iam.PolicyStatement(
                actions=[f"secretsmanager:{a}" for a in ("CreateSecret", "PutSecretValue", "DescribeSecret")],
                resources=[self.secret_arns],
            ),
            self._through_secrets_manager("GenerateDataKey"),
        ]

    def announce(self) -> list[iam.PolicyStatement]:
        """Queue an ended job's webhook (the functions that end jobs)."""
        return [
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn]),
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.queues_key.key_arn]),
        ]

    def add_delivery(
        self,
        *,
        code: LambdaCode,
        environment: Mapping[str, str],
        bucket: s3.IBucket,
        jobs: dynamodb.ITable,
    ) -> PythonFunction:
        self.delivery = PythonFunction(
            self,
            "Delivery",
            code=code,
            spec=WEBHOOK_DELIVERY,
            description="sd-cloud signed completion webhooks",
            environment=environment,
            permissions=[
                on_tables(["GetItem"], jobs),
                on_objects(["GetObject"], bucket, [OUTPUTS]),  # the job's presigned image URLs
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.secret_arns]),
                self._through_secrets_manager("Decrypt"),
            ],
        )
        self.delivery.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=WEBHOOK_BATCH_SIZE, report_batch_item_failures=True)
        )
        return self.delivery
