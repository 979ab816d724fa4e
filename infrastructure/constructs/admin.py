"""The first admin: a generated key in Secrets Manager, written as its SHA-256 into the users table."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CustomResource, custom_resources
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infrastructure.constructs.function import PythonFunction, log_group
from infrastructure.lambda_code import LambdaCode
from infrastructure.permissions import on_tables
from lambdas.functions import BOOTSTRAP_ADMIN


class AdminSecret(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Key",
            description="sd-cloud: API key of the first admin user (name 'admin')",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )


class AdminBootstrap(Construct):
    """On stack create/update: the users table gets the `admin` user whose key is the secret's value."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        environment: Mapping[str, str],
        secret: secretsmanager.ISecret,
        users: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Handler",
            code=code,
            spec=BOOTSTRAP_ADMIN,
            description="sd-cloud first admin user (CloudFormation custom resource)",
            environment=environment,
            permissions=[
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]),
                on_tables(["PutItem"], users),
            ],
        )
        framework_logs = log_group(self, "ProviderLogs")
        framework_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sd-cloud custom resource provider framework: invokes the bootstrap handler",
            inline_policies={
                "Logs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[framework_logs.log_group_arn],
                        )
                    ]
                )
            },
        )
        provider = custom_resources.Provider(
            self,
            "Provider",
            on_event_handler=self.handler.function,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
        )
        CustomResource(
            self,
            "AdminUser",
            service_token=provider.service_token,
            resource_type="Custom::SdCloudAdminUser",
            properties={"SecretArn": secret.secret_arn, "UsersTable": users.table_name},
        )
