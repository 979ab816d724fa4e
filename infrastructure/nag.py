"""Every cdk-nag AwsSolutions acknowledgement of the stack, each with its reason.

Wildcard resources (AwsSolutions-IAM5) are acknowledged by pattern: each role or policy in the stack gets
an acknowledgement for each wildcard it actually grants that matches one of `WILDCARD_REASONS`; any
other wildcard stays a finding and fails the synth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import IConstruct

from api_schema import s3_layout
from lambdas.settings import Settings

PREFIX = re.escape(Settings.model_fields["resource_prefix"].default)

# Actions that accept no resource but "*" (AWS Service Authorization Reference).
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments": "X-Ray tracing (added by active tracing)",
    "xray:PutTelemetryRecords": "X-Ray tracing (added by active tracing)",
    "ecr:GetAuthorizationToken": "ECR login before pulling the image",
    "application-autoscaling:DescribeScalableTargets": "reading the endpoint's scaling state",
    "application-autoscaling:DescribeScalingPolicies": "reading the endpoint's scaling state",
    "application-autoscaling:DescribeScalingActivities": "reading the endpoint's scaling state",
}


def _arn(service: str) -> str:
    """The start of an ARN of this stack's account and region, as cdk-nag renders it."""
    return rf"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:"


WILDCARD_REASONS: dict[str, str] = {
    r"<StorageBucket\w+\.Arn>/(models|inputs|outputs|async|compiled)/\*": (
        "Objects under one key prefix of the bucket: keys carry ids minted per model and per job, "
        "so the prefix is the narrowest fixed scope."
    ),
    r"<StorageBucket\w+\.Arn>/" + re.escape(s3_layout.cancel_key("*")): (
        "The cancel marker of any job (outputs/{job}/cancel): job ids are minted per job, the marker's name "
        "is fixed."
    ),
    _arn("sagemaker") + rf"(model|endpoint-config|endpoint)/{PREFIX}-\*": (
        "SageMaker models, endpoint configs and endpoints are created at run time by the API, "
        "all named '<prefix>-...'; the prefix is the scope."
    ),
    _arn("logs") + rf"log-group:/aws/sagemaker/Endpoints/{PREFIX}-\*": (
        "SageMaker writes each endpoint's container logs to a log group named after the endpoint ('<prefix>-...')."
    ),
    _arn("cloudwatch") + rf"alarm:(TargetTracking-endpoint/)?{PREFIX}-\*": (
        "Autoscaling alarms of this stack's endpoints: named by the stack, or by target tracking after the endpoint."
    ),
    _arn("application-autoscaling") + r"scalable-target/\*": (
        "Scalable target ids are assigned by Application Auto Scaling when the target is registered; "
        "they cannot be named in advance."
    ),
    _arn("secretsmanager") + rf"secret:{PREFIX}/webhook/\*": (
        "The users' webhook signing secrets, one per user, created at run time by the API and named "
        "'<prefix>/webhook/<user>' (Secrets Manager appends a random suffix to each ARN); the prefix is the scope."
    ),
    r"<AdminBootstrapHandlerFunction\w+\.Arn>:\*": (
        "The custom resource provider framework invokes versions of the bootstrap handler (CDK's own grant)."
    ),
}

PING = "GET /ping is the public health check of the REST contract (DESIGN.md section 3)."
API_GATEWAY_LOGS_POLICY = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]"
)
REASONS = {
    "AwsSolutions-L1": (
        "Python 3.12 is the runtime the project pins: the layer is built from cp312 aarch64 wheels and "
        "the handlers are tested on 3.12; moving runtime is a deliberate upgrade, not a lint fix."
    ),
    API_GATEWAY_LOGS_POLICY: (
        "API Gateway's account-level logging role, assumable by API Gateway only; AWS's managed policy "
        "is the documented one for it."
    ),
    "AwsSolutions-APIG3": (
        "No WAF by default: it adds a fixed monthly cost; every route but /ping needs a key and the "
        "stage is throttled. Attach a web ACL to the 'prod' stage where needed."
    ),
    "AwsSolutions-APIG4/ping": PING,
    "AwsSolutions-COG4/ping": PING,
    "AwsSolutions-COG4": (
        "Clients (CLI, WebUI extension) authenticate with API keys, not Cognito sign-in: the REQUEST "
        "authorizer looks up the key's SHA-256 in the users table."
    ),
    "AwsSolutions-SMG4": (
        "The secret holds the first admin's key; rotating it would not change the stored hash. Keys "
        "are revoked and issued through the API (DELETE/POST /users)."
    ),
}


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledge_findings(stack: Stack) -> None:
    acknowledge(stack, "AwsSolutions-L1", REASONS["AwsSolutions-L1"])
    for construct in stack.node.find_all():
        if isinstance(construct, iam.Role) and construct.node.id == "CloudWatchRole":
            acknowledge(construct, API_GATEWAY_LOGS_POLICY, REASONS[API_GATEWAY_LOGS_POLICY])
        elif isinstance(construct, apigateway.Stage):
            acknowledge(construct, "AwsSolutions-APIG3", REASONS["AwsSolutions-APIG3"])
        elif isinstance(construct, apigateway.Method):
            if construct.resource.path == "/ping":
                acknowledge(construct, "AwsSolutions-APIG4", REASONS["AwsSolutions-APIG4/ping"])
                acknowledge(construct, "AwsSolutions-COG4", REASONS["AwsSolutions-COG4/ping"])
            elif construct.http_method != "OPTIONS":
                acknowledge(construct, "AwsSolutions-COG4", REASONS["AwsSolutions-COG4"])
        elif isinstance(construct, secretsmanager.Secret):
            acknowledge(construct, "AwsSolutions-SMG4", REASONS["AwsSolutions-SMG4"])
        elif isinstance(construct, (iam.CfnRole, iam.CfnPolicy)):
            _acknowledge_wildcards(stack, construct)


def _acknowledge_wildcards(stack: Stack, policy_holder: iam.CfnRole | iam.CfnPolicy) -> None:
    for actions, resource in _granted(stack, policy_holder):
        if resource == "*" and all(action in NO_RESOURCE_LEVEL for action in actions):
            why = "; ".join(sorted({NO_RESOURCE_LEVEL[action] for action in actions}))
            acknowledge(policy_holder, "AwsSolutions-IAM5[Resource::*]", f"No resource-level permissions: {why}.")
            continue
        reason = next((r for pattern, r in WILDCARD_REASONS.items() if re.fullmatch(pattern, resource)), None)
        if reason is not None:
            acknowledge(policy_holder, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def _granted(stack: Stack, policy_holder: iam.CfnRole | iam.CfnPolicy) -> Iterator[tuple[list[str], str]]:
    """(actions, resource) of each statement, the resource rendered as cdk-nag names it in findings."""
    if isinstance(policy_holder, iam.CfnRole):
        documents = [policy["policyDocument"] for policy in stack.resolve(policy_holder.policies) or []]
    else:
        documents = [stack.resolve(policy_holder.policy_document)]
    for document in documents:
        for statement in document["Statement"]:
            actions = _as_list(statement.get("Action", []))
            for resource in _as_list(statement.get("Resource", [])):
                yield actions, _render(resource)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", value["Fn::Sub"])
    raise ValueError(f"cannot render {value}")
