"""The one way this stack builds a Lambda function: Python 3.12 on arm64, shared code, own role.

Each function's role starts empty; its permissions are the statements its caller lists, plus writing
to its own log group (and X-Ray, which active tracing adds), and sending to its dead-letter queue when it
has one (functions invoked asynchronously: failures after Lambda's retries land there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure.lambda_code import LambdaCode
from lambdas.functions import FunctionSpec

SERVICE_NAME = "sdcloud"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    return logs.LogGroup(scope, construct_id, retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)


class PythonFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        spec: FunctionSpec,
        description: str,
        environment: Mapping[str, str],
        permissions: Sequence[iam.PolicyStatement],
        dead_letter_queue: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group(self, "Logs")
        write_logs = iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"sd-cloud {spec.handler}",
            inline_policies={"Permissions": iam.PolicyDocument(statements=[write_logs, *permissions])},
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code.source,
            layers=[code.layer],
            description=description,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            role=self.role,
            environment={**environment, **POWERTOOLS_ENV},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency,
        )
        # Lambda grants itself sqs:SendMessage on the dead-letter queue, but not the use of its key.
        if dead_letter_queue is not None and dead_letter_queue.encryption_master_key is not None:
            dead_letter_queue.encryption_master_key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")
