"""Every checkov finding on the template that is acknowledged rather than fixed, each with its reason.

checkov reads an acknowledgement from the resource's own metadata, `Metadata.checkov.skip: [{id, comment}]`,
so each one travels with the template. `acknowledge_checkov_findings` writes them; the infra tests run
checkov over the synthesized template and fail on any finding that is neither fixed nor listed here.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from infrastructure.nag import PING

ASYNC_ONLY_DLQ = (
    "A function dead-letter queue only receives failed asynchronous invocations; this function is invoked "
    "synchronously (API Gateway, the CloudFormation custom resource provider) or by the SQS event source, "
    "whose queue moves failed results to its own dead-letter queue."
)
CONCURRENCY = (
    "Bounded where it is invoked: the API and its authorizer by the stage's throttling (50 requests/s, burst "
    "100), the notifier and the webhook delivery by their queues' event sources, the bootstrap handler by one "
    "CloudFormation deployment. Reserving concurrency would take it from the account's unreserved pool."
)

# (CloudFormation type, check id) -> reason; a resource of the type is acknowledged when `applies` says so.
REASONS: dict[tuple[str, str], str] = {
    ("AWS::Logs::LogGroup", "CKV_AWS_158"): (
        "CloudWatch Logs encrypts every log group at rest with a service key; these logs hold request "
        "metadata and errors, never API keys (only their hashes exist) or images."
    ),
    ("AWS::Lambda::Function", "CKV_AWS_173"): (
        "Lambda encrypts environment variables at rest with its service key; they hold resource names and "
        "log settings only, no secrets (the admin key is read from Secrets Manager)."
    ),
    ("AWS::Lambda::Function", "CKV_AWS_117"): (
        "The functions reach only AWS APIs (DynamoDB, S3, SageMaker, SQS, Secrets Manager) over TLS with IAM, and "
        "the webhook delivery the users' public https receivers (internal addresses are refused after DNS "
        "resolution); a VPC would add NAT gateways or interface endpoints at a fixed monthly cost and protect "
        "nothing more."
    ),
    ("AWS::Lambda::Function", "CKV_AWS_116"): ASYNC_ONLY_DLQ,
    ("AWS::Lambda::Function", "CKV_AWS_115"): CONCURRENCY,
    ("AWS::DynamoDB::Table", "CKV_AWS_119"): (
        "Tables are encrypted at rest with DynamoDB's own key; they hold names, job metadata and API key "
        "hashes, and a customer managed key would add cost and a key to manage for no stronger guarantee."
    ),
    ("AWS::S3::Bucket", "CKV_AWS_21"): (
        "No versioning: deleting a job or model must remove its objects (DESIGN.md: DELETE removes them), "
        "and inputs and async results expire by lifecycle; old versions would keep them."
    ),
    ("AWS::S3::Bucket", "CKV_AWS_18"): (
        "This is the access-log bucket itself: logging it would log its own log deliveries."
    ),
    ("AWS::SecretsManager::Secret", "CKV_AWS_149"): (
        "Encrypted with Secrets Manager's key for the account; only the stack's bootstrap function reads it, "
        "once per deployment."
    ),
    ("AWS::ApiGateway::Stage", "CKV_AWS_120"): (
        "No caching: every answer depends on the caller's key and on job state that changes by the second; "
        "a cache would serve stale jobs, or one user's answer to another."
    ),
    ("AWS::ApiGateway::Method", "CKV_AWS_59"): PING,
}

Applies = Callable[[CfnResource], bool]


def _no_dead_letter_queue(resource: CfnResource) -> bool:
    return isinstance(resource, lambda_.CfnFunction) and resource.dead_letter_config is None


def _no_reserved_concurrency(resource: CfnResource) -> bool:
    return isinstance(resource, lambda_.CfnFunction) and resource.reserved_concurrent_executions is None


def _not_logged(resource: CfnResource) -> bool:
    return isinstance(resource, s3.CfnBucket) and resource.logging_configuration is None


def _public_method(resource: CfnResource) -> bool:
    return (
        isinstance(resource, apigateway.CfnMethod)
        and resource.authorization_type == "NONE"
        and resource.http_method != "OPTIONS"
    )


APPLIES: dict[str, Applies] = {
    "CKV_AWS_116": _no_dead_letter_queue,
    "CKV_AWS_115": _no_reserved_concurrency,
    "CKV_AWS_18": _not_logged,
    "CKV_AWS_59": _public_method,
}


def acknowledge_checkov_findings(stack: Stack) -> None:
    for construct in stack.node.find_all():
        if not isinstance(construct, CfnResource):
            continue
        skips = [
            {"id": check, "comment": reason}
            for (resource_type, check), reason in REASONS.items()
            if construct.cfn_resource_type == resource_type and APPLIES.get(check, lambda _: True)(construct)
        ]
        if skips:
            construct.add_metadata("checkov", {"skip": skips})
