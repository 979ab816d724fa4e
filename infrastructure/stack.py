"""The sd-cloud stack: a thin composition of one construct per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infrastructure.constructs.admin import AdminBootstrap, AdminSecret
from infrastructure.constructs.api import Api
from infrastructure.constructs.async_flow import AsyncFlow
from infrastructure.constructs.inference import Inference
from infrastructure.constructs.messaging import Messaging
from infrastructure.constructs.operations import Operations
from infrastructure.constructs.storage import Storage
from infrastructure.constructs.webhooks import Webhooks
from infrastructure.lambda_code import LambdaCode
from lambdas.settings import ENV, Settings

# Lambda sets AWS_REGION itself and refuses it as a user variable.
_RUNTIME_SET = {ENV["region"]}


class SdCloudStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, deletion_protection: bool = True, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        prefix = Settings.model_fields["resource_prefix"].default
        storage = Storage(self, "Storage", deletion_protection=deletion_protection)
        messaging = Messaging(self, "Messaging")
        inference = Inference(self, "Inference", bucket=storage.bucket, messaging=messaging, prefix=prefix)
        admin = AdminSecret(self, "Admin")
        webhooks = Webhooks(self, "Webhooks", messaging=messaging, prefix=prefix)
        settings = Settings.model_validate(
            {
                "bucket": storage.bucket.bucket_name,
                **storage.table_name_settings(),
                "success_topic_arn": messaging.success_topic.topic_arn,
                "error_topic_arn": messaging.error_topic.topic_arn,
                "sagemaker_role_arn": inference.role.role_arn,
                "inference_image_uri": inference.image.image_uri,
                "admin_secret_arn": admin.secret.secret_arn,
                "resource_prefix": prefix,
                "webhook_queue_url": webhooks.queue.queue_url,
                "webhook_secrets_key_arn": webhooks.secrets_key.key_arn,
            }
        )
        environment = {name: value for name, value in settings.to_env().items() if name not in _RUNTIME_SET}

        code = LambdaCode(self, "LambdaCode")
        api = Api(
            self,
            "Api",
            code=code,
            environment=environment,
            bucket=storage.bucket,
            tables=storage.tables,
            sagemaker_role=inference.role,
            prefix=prefix,
        )
        async_flow = AsyncFlow(
            self,
            "AsyncFlow",
            code=code,
            environment=environment,
            bucket=storage.bucket,
            tables=storage.tables,
            messaging=messaging,
            prefix=prefix,
        )
        delivery = webhooks.add_delivery(
            code=code, environment=environment, bucket=storage.bucket, jobs=storage.tables["jobs_table"]
        )
        # The functions that end jobs queue their webhooks; the API also writes (never reads) the signing secrets.
        for statement in [*webhooks.announce(), *webhooks.write_secrets()]:
            api.handler.role.add_to_principal_policy(statement)
        for ending in (async_flow.notifier, async_flow.sweeper):
            for statement in webhooks.announce():
                ending.role.add_to_principal_policy(statement)
        AdminBootstrap(
            self,
            "AdminBootstrap",
            code=code,
            environment=environment,
            secret=admin.secret,
            users=storage.tables["users_table"],
        )
        operations = Operations(
            self,
            "Operations",
            rest_api=api.rest_api,
            messaging=messaging,
            functions={
                "api": api.handler.function,
                "authorizer": api.authorizer_handler.function,
                "notifier": async_flow.notifier.function,
                "sweeper": async_flow.sweeper.function,
                "endpoint_events": async_flow.endpoint_events.function,
                "webhook_delivery": delivery.function,
            },
            webhook_dead_letters=webhooks.dead_letters,
        )

        CfnOutput(self, "ApiUrl", value=api.rest_api.url, description="export API_URL=<this>")
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(
            self,
            "AdminKeySecretArn",
            value=admin.secret.secret_arn,
            description="The first admin's API key (see infrastructure/README.md)",
        )
        CfnOutput(self, "AlarmTopicArn", value=operations.alarm_topic.topic_arn)
        CfnOutput(self, "InferenceImageUri", value=inference.image.image_uri)
