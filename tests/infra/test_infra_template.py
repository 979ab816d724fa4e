"""What matters in the synthesized template: auth on the API, least privilege, encryption, TLS, recovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from synthesized_stack import Synthesized

from infrastructure.nag import NO_RESOURCE_LEVEL
from lambdas.data.tables import ALL_TABLES
from lambdas.functions import WEBHOOK_MAX_RECEIVES
from lambdas.settings import ENV

HANDLERS = {
    "api": "lambdas.api.app.handler",
    "authorizer": "lambdas.authorizer.handler",
    "notifier": "lambdas.notifier.handler",
    "sweeper": "lambdas.sweeper.handler",
    "endpoint_events": "lambdas.endpoint_events.handler",
    "bootstrap_admin": "lambdas.bootstrap_admin.handler",
    "webhook_delivery": "lambdas.webhook_delivery.handler",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A template value (string or intrinsic function) flattened for substring checks."""
    return value if isinstance(value, str) else json.dumps(value)


def function(synth: Synthesized, name: str) -> dict[str, Any]:
    found = [f for f in synth.of_type("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == HANDLERS[name]]
    assert len(found) == 1, name
    return found[0]


def role_statements(synth: Synthesized, role_name: str) -> list[dict[str, Any]]:
    """Every statement granted to a role: its inline policies and the policies attached to it."""
    role = synth.resources[role_name]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_name} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def function_statements(synth: Synthesized, name: str) -> list[dict[str, Any]]:
    role_name = function(synth, name)["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_statements(synth, role_name)


def grants(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources (flattened) on which `action` is allowed."""
    return [
        text(resource)
        for s in statements
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


def object_prefixes(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The key patterns of the bucket objects on which `action` is allowed."""
    return {r.split('"/')[-1].rstrip('"]}') for r in grants(statements, action)}


def actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def logical_id(synth: Synthesized, resource_type: str, path_part: str) -> str:
    return synth.one(resource_type, path_part)[0]


# --- API ---------------------------------------------------------------------------------------


def method_paths(synth: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        resource = resources[ref["Ref"]]["Properties"]
        return f"{path(resource['ParentId'])}/{resource['PathPart']}"

    return {
        name: (path(m["Properties"]["ResourceId"]) or "/", m["Properties"])
        for name, m in synth.of_type("AWS::ApiGateway::Method").items()
    }


def test_every_api_method_but_ping_and_cors_preflight_needs_the_authorizer(synthesized: Synthesized) -> None:
    authorizer_name, authorizer = synthesized.one("AWS::ApiGateway::Authorizer", "KeyAuthorizer")
    methods = method_paths(synthesized)
    public = set()
    for path, method in methods.values():
        verb = method["HttpMethod"]
        if verb == "OPTIONS":
            assert method["Integration"]["Type"] == "MOCK", path  # preflight answers itself, no backend
            public.add(f"OPTIONS {path}")
        elif (verb, path) == ("GET", "/ping"):
            assert method["AuthorizationType"] == "NONE"
            public.add("GET /ping")
        else:
            assert method["AuthorizationType"] == "CUSTOM", f"{verb} {path}"
            assert method["AuthorizerId"] == {"Ref": authorizer_name}, f"{verb} {path}"
    assert "GET /ping" in public
    assert ("ANY", "/{proxy+}") in {(m["HttpMethod"], p) for p, m in methods.values()}
    assert authorizer["Properties"]["Type"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.x-api-key"
    assert 0 < authorizer["Properties"]["AuthorizerResultTtlInSeconds"] <= 60


def test_api_stage_logs_traces_throttles_and_validates(synthesized: Synthesized) -> None:
    _, stage = synthesized.one("AWS::ApiGateway::Stage", "RestApi")
    props = stage["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    settings = props["MethodSettings"][0]
    assert settings["LoggingLevel"] in {"ERROR", "INFO"}
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    _, validator = synthesized.one("AWS::ApiGateway::RequestValidator", "RestApi")
    assert validator["Properties"]["ValidateRequestParameters"] is True
    for path, method in method_paths(synthesized).values():
        if method["HttpMethod"] != "OPTIONS":
            assert "RequestValidatorId" in method, path


def test_cors_allows_the_api_key_header_and_error_responses_carry_cors(synthesized: Synthesized) -> None:
    preflight = [m for _, m in method_paths(synthesized).values() if m["HttpMethod"] == "OPTIONS"]
    headers = preflight[0]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    assert "x-api-key" in headers["method.response.header.Access-Control-Allow-Headers"]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in responses[kind]["ResponseParameters"]


# --- Lambda functions ----------------------------------------------------------------------------


def test_every_function_is_python312_arm64_traced_with_its_own_role(synthesized: Synthesized) -> None:
    roles = set()
    for name in HANDLERS:
        props = function(synthesized, name)["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        assert ENV["bucket"] in props["Environment"]["Variables"]
        assert ENV["region"] not in props["Environment"]["Variables"]  # Lambda refuses reserved names
        assert len(props["Layers"]) == 1
        roles.add(props["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(HANDLERS)


def test_the_local_stack_runs_every_function_with_the_deployed_timeout_and_memory(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    from sdcloud.local.stack import LocalStack

    deployed = {
        f["Properties"]["Handler"]: (f["Properties"]["Timeout"], f["Properties"]["MemorySize"])
        for f in synthesized.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].startswith("lambdas.")
    }
    # The first admin comes from a CloudFormation custom resource; the local stack writes it directly.
    del deployed[HANDLERS["bootstrap_admin"]]

    local = LocalStack(workdir=tmp_path).functions.values()

    assert {f.handler_path: (f.timeout_s, f.memory_mb) for f in local} == deployed


def test_every_function_log_group_has_a_retention(synthesized: Synthesized) -> None:
    groups = synthesized.of_type("AWS::Logs::LogGroup")
    for name in HANDLERS:
        group = function(synthesized, name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_function_policies_have_no_wildcard_action_and_scoped_resources(synthesized: Synthesized, name: str) -> None:
    for statement in function_statements(synthesized, name):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, (name, action)
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL.keys(), (name, statement)


# What each handler's code calls (DESIGN.md and the handler contracts); logs and X-Ray come on top.
# What Lambda needs to put a failed asynchronous invocation into the encrypted dead-letter queue.
DEAD_LETTERING = {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
# What a function that ends jobs needs to queue their webhooks (the same calls, on the webhook queue).
ANNOUNCING = DEAD_LETTERING
CONSUMING = {*(f"sqs:{a}" for a in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility")),
             "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "kms:Decrypt"}
CALLS = {
    "api": {
        *(f"dynamodb:{a}" for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query")),
        *(f"s3:{a}" for a in ("GetObject", "PutObject", "DeleteObject", "ListBucket")),
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        *(f"sagemaker:{a}" for a in ("CreateModel", "CreateEndpointConfig", "CreateEndpoint", "DescribeEndpoint")),
        *(f"sagemaker:{a}" for a in ("DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel", "InvokeEndpointAsync")),
        "iam:PassRole",
        *(f"secretsmanager:{a}" for a in ("CreateSecret", "PutSecretValue", "DescribeSecret")),
        *ANNOUNCING,
    },
    "authorizer": {"dynamodb:Query"},
    "notifier": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:ListBucket",
        *CONSUMING,  # the results queue is encrypted with the queues' key
        *ANNOUNCING,
    },
    "sweeper": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "s3:GetObject", "s3:ListBucket",
                *DEAD_LETTERING},
    "endpoint_events": {
        *(f"dynamodb:{a}" for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")),
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        *(f"application-autoscaling:{a}" for a in ("RegisterScalableTarget", "DeregisterScalableTarget")),
        *(f"application-autoscaling:{a}" for a in ("PutScalingPolicy", "DeleteScalingPolicy")),
        *(a for a in NO_RESOURCE_LEVEL if a.startswith("application-autoscaling:Describe")),
        *(f"cloudwatch:{a}" for a in ("PutMetricAlarm", "DeleteAlarms", "DescribeAlarms")),
        "iam:CreateServiceLinkedRole",
        *DEAD_LETTERING,
    },
    "bootstrap_admin": {"secretsmanager:GetSecretValue", "dynamodb:PutItem"},
    "webhook_delivery": {"dynamodb:GetItem", "s3:GetObject", "secretsmanager:GetSecretValue", *CONSUMING},
}
OBSERVABILITY = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_each_function_is_granted_exactly_what_its_code_calls(synthesized: Synthesized, name: str) -> None:
    assert actions(function_statements(synthesized, name)) == CALLS[name] | OBSERVABILITY


def test_endpoint_events_may_create_only_the_sagemaker_autoscaling_service_linked_role(
    synthesized: Synthesized,
) -> None:
    statements = function_statements(synthesized, "endpoint_events")
    (statement,) = [s for s in statements if "iam:CreateServiceLinkedRole" in as_list(s["Action"])]
    assert statement["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    }
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in text(statement["Resource"])


def test_authorizer_may_only_query_the_key_hash_index(synthesized: Synthesized) -> None:
    statements = function_statements(synthesized, "authorizer")
    assert actions(statements) - {"logs:CreateLogStream", "logs:PutLogEvents"} - NO_RESOURCE_LEVEL.keys() == {
        "dynamodb:Query"
    }
    users = logical_id(synthesized, "AWS::DynamoDB::Table", "/Storage/Users/")
    (index,) = grants(statements, "dynamodb:Query")
    assert users in index and "/index/by_key_hash" in index


def test_notifier_reads_results_updates_jobs_and_consumes_the_queue(synthesized: Synthesized) -> None:
    statements = function_statements(synthesized, "notifier")
    assert object_prefixes(statements, "s3:GetObject") == {"async/*", "outputs/*"}
    jobs = logical_id(synthesized, "AWS::DynamoDB::Table", "/Storage/Jobs/")
    assert all(jobs in r for r in grants(statements, "dynamodb:UpdateItem"))
    assert not {"s3:PutObject", "s3:DeleteObject", "dynamodb:DeleteItem", "dynamodb:Scan"} & actions(statements)
    mapping = next(iter(synthesized.of_type("AWS::Lambda::EventSourceMapping").values()))["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_api_writes_only_uploads_job_inputs_and_cancel_markers(synthesized: Synthesized) -> None:
    statements = function_statements(synthesized, "api")
    assert object_prefixes(statements, "s3:PutObject") == {"models/*", "inputs/*", "outputs/*/cancel"}
    assert object_prefixes(statements, "s3:GetObject") == {"models/*", "inputs/*", "outputs/*"}


def test_api_passes_only_the_sagemaker_role_and_only_to_sagemaker(synthesized: Synthesized) -> None:
    statements = function_statements(synthesized, "api")
    sagemaker_role = logical_id(synthesized, "AWS::IAM::Role", "/Inference/SageMakerRole/")
    (pass_role,) = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert pass_role["Resource"] == {"Fn::GetAtt": [sagemaker_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for action in actions(statements):
        if action.startswith("sagemaker:"):
            assert all(r.endswith('/sdcloud-*"]]}') for r in grants(statements, action)), action
    assert "dynamodb:Scan" not in actions(statements)


def test_sagemaker_role_reads_models_and_inputs_writes_results_and_publishes(
    synthesized: Synthesized,
) -> None:
    role_name, role = synthesized.one("AWS::IAM::Role", "/Inference/SageMakerRole/")
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "sagemaker.amazonaws.com"}
    statements = role_statements(synthesized, role_name)

    assert object_prefixes(statements, "s3:GetObject") == {"models/*", "inputs/*", "compiled/*"}
    assert object_prefixes(statements, "s3:PutObject") == {"outputs/*", "async/*", "compiled/*"}
    (listing,) = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["compiled/*", "outputs/*/cancel"]}}
    topics = {logical_id(synthesized, "AWS::SNS::Topic", f"/Messaging/{t}Topic/") for t in ("Success", "Error")}
    assert {json.loads(r)["Ref"] for r in grants(statements, "sns:Publish")} == topics
    ecr_pull = {"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"}
    assert actions(statements) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ecr:GetAuthorizationToken",
        *ecr_pull,
    }


# --- Storage -------------------------------------------------------------------------------------


def test_tables_follow_the_specs_on_demand_with_point_in_time_recovery(synthesized: Synthesized) -> None:
    tables = [t["Properties"] for t in synthesized.of_type("AWS::DynamoDB::Table").values()]
    assert len(tables) == len(ALL_TABLES)
    by_key = {t["KeySchema"][0]["AttributeName"] + ":" + ",".join(sorted(
        i["IndexName"] for i in t.get("GlobalSecondaryIndexes", []))): t for t in tables}  # fmt: skip
    for spec in ALL_TABLES:
        table = by_key[spec.key.partition + ":" + ",".join(sorted(i.name for i in spec.indexes))]
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionProtectionEnabled"] is True
        if spec.ttl_attribute:
            assert table["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}


def test_bucket_is_encrypted_private_logged_and_expires_scratch_prefixes(synthesized: Synthesized) -> None:
    _, bucket = synthesized.one("AWS::S3::Bucket", "/Storage/Bucket/")
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "VersioningConfiguration" not in props
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    expiring = {r.get("Prefix") for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r}
    assert {"inputs/", "async/"} <= expiring


def _denies_insecure_transport(policy_document: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy_document["Statement"]
    )


def test_buckets_topics_and_queues_deny_requests_without_tls(synthesized: Synthesized) -> None:
    for policy_type, target_key, resource_type in (
        ("AWS::S3::BucketPolicy", "Bucket", "AWS::S3::Bucket"),
        ("AWS::SNS::TopicPolicy", "Topics", "AWS::SNS::Topic"),
        ("AWS::SQS::QueuePolicy", "Queues", "AWS::SQS::Queue"),
    ):
        protected = set()
        for policy in synthesized.of_type(policy_type).values():
            if _denies_insecure_transport(policy["Properties"]["PolicyDocument"]):
                for target in as_list(policy["Properties"][target_key]):
                    protected.add(json.dumps(target))
        for name in synthesized.of_type(resource_type):
            assert json.dumps({"Ref": name}) in protected, name


def test_topics_are_encrypted_with_a_rotated_key(synthesized: Synthesized) -> None:
    key_name, key = synthesized.one("AWS::KMS::Key", "/Messaging/TopicsKey/")
    assert key["Properties"]["EnableKeyRotation"] is True
    for name, topic in synthesized.of_type("AWS::SNS::Topic").items():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_name, "Arn"]}, name


# --- Async flow ----------------------------------------------------------------------------------


def test_both_topics_deliver_raw_to_the_results_queue_which_has_a_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    results = logical_id(synthesized, "AWS::SQS::Queue", "/Messaging/Results/")
    dead_letters = logical_id(synthesized, "AWS::SQS::Queue", "/Messaging/DeadLetters/")
    queue = synthesized.resources[results]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_letters, "Arn"]}
    queues_key = logical_id(synthesized, "AWS::KMS::Key", "/Messaging/QueuesKey/")
    for name in (results, dead_letters):
        assert synthesized.resources[name]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [queues_key, "Arn"]}
    subscriptions = [s["Properties"] for s in synthesized.of_type("AWS::SNS::Subscription").values()]
    topics = {logical_id(synthesized, "AWS::SNS::Topic", f"/Messaging/{t}Topic/") for t in ("Success", "Error")}
    assert {s["TopicArn"]["Ref"] for s in subscriptions if s["Protocol"] == "sqs"} == topics
    for s in subscriptions:
        assert s["RawMessageDelivery"] is True
        assert s["Endpoint"] == {"Fn::GetAtt": [results, "Arn"]}


def test_sweeper_runs_every_five_minutes_and_endpoint_events_follow_sagemaker(
    synthesized: Synthesized,
) -> None:
    rules = [r["Properties"] for r in synthesized.of_type("AWS::Events::Rule").values()]
    schedules = [r for r in rules if "ScheduleExpression" in r]
    assert [r["ScheduleExpression"] for r in schedules] == ["rate(5 minutes)"]
    (pattern,) = [r["EventPattern"] for r in rules if "EventPattern" in r]
    assert pattern["detail-type"] == ["SageMaker Endpoint State Change"]
    assert pattern["detail"]["EndpointName"] == [{"prefix": "sdcloud-"}]
    for rule in rules:
        assert "DeadLetterConfig" in rule["Targets"][0]


def test_functions_eventbridge_invokes_send_failures_to_the_alarmed_dlq_one_run_at_a_time(
    synthesized: Synthesized,
) -> None:
    dead_letters = logical_id(synthesized, "AWS::SQS::Queue", "/Messaging/DeadLetters/")
    queues_key = logical_id(synthesized, "AWS::KMS::Key", "/Messaging/QueuesKey/")
    for name in ("sweeper", "endpoint_events"):
        props = function(synthesized, name)["Properties"]
        assert props["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [dead_letters, "Arn"]}, name
        assert props["ReservedConcurrentExecutions"] == 1, name
        statements = function_statements(synthesized, name)
        assert json.dumps({"Fn::GetAtt": [dead_letters, "Arn"]}) in grants(statements, "sqs:SendMessage")
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert set(grants(statements, action)) == {json.dumps({"Fn::GetAtt": [queues_key, "Arn"]})}, (name, action)
    (alarm,) = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
                if "DeadLetters" in a["Metadata"]["aws:cdk:path"]]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters, "QueueName"]}}]


# --- Admin bootstrap, operations, outputs --------------------------------------------------------


def test_first_admin_comes_from_a_generated_secret_through_a_custom_resource(
    synthesized: Synthesized,
) -> None:
    secret_name, secret = synthesized.one("AWS::SecretsManager::Secret", "/Admin/Key/")
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    (custom,) = synthesized.of_type("Custom::SdCloudAdminUser").values()
    assert custom["Properties"]["SecretArn"] == {"Ref": secret_name}
    env = function(synthesized, "bootstrap_admin")["Properties"]["Environment"]["Variables"]
    assert env[ENV["admin_secret_arn"]] == {"Ref": secret_name}
    statements = function_statements(synthesized, "bootstrap_admin")
    assert grants(statements, "secretsmanager:GetSecretValue") == [json.dumps({"Ref": secret_name})]


def test_alarms_notify_the_alarm_topic(synthesized: Synthesized) -> None:
    alarm_topic = logical_id(synthesized, "AWS::SNS::Topic", "/Operations/AlarmTopic/")
    alarms = {
        r["Metadata"]["aws:cdk:path"].split("/")[-2]: r["Properties"]
        for r in synthesized.of_type("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"DeadLettersNotEmpty", "NotifierErrors", "JobsFailing", "Api5xx", "WebhooksUndelivered"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": alarm_topic}]
    assert synthesized.of_type("AWS::CloudWatch::Dashboard")


def test_outputs_name_the_api_the_bucket_and_the_admin_secret(synthesized: Synthesized) -> None:
    assert {"ApiUrl", "BucketName", "AdminKeySecretArn"} <= set(synthesized.template["Outputs"])


def test_api_gateway_execution_logs_have_a_retention(synthesized: Synthesized) -> None:
    _, group = synthesized.one("AWS::Logs::LogGroup", "/Api/ExecutionLogs/")
    assert "API-Gateway-Execution-Logs_" in text(group["Properties"]["LogGroupName"])
    assert group["Properties"]["RetentionInDays"] > 0
    stage_name, _ = synthesized.one("AWS::ApiGateway::Stage", "RestApi")
    assert logical_id(synthesized, "AWS::Logs::LogGroup", "/Api/ExecutionLogs/") in synthesized.resources[
        stage_name
    ].get("DependsOn", [])


def test_deletion_protection_can_be_turned_off_for_the_tables_but_the_bucket_is_kept() -> None:
    from aws_cdk import App, Stack
    from aws_cdk.assertions import Template

    from infrastructure.constructs.storage import Storage

    stack = Stack(App(), "Storage")
    Storage(stack, "Storage", deletion_protection=False)
    resources = Template.from_stack(stack).to_json()["Resources"]
    for resource in resources.values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource["Properties"]["DeletionProtectionEnabled"] is False
            assert resource["DeletionPolicy"] == "Delete"
        if resource["Type"] == "AWS::S3::Bucket":
            assert resource["DeletionPolicy"] == "Retain"


# --- Webhooks ----------------------------------------------------------------------------------


def test_only_the_webhook_delivery_may_read_the_signing_secrets_and_the_api_only_writes_them(
    synthesized: Synthesized,
) -> None:
    secrets_key = json.dumps({"Fn::GetAtt": [logical_id(synthesized, "AWS::KMS::Key", "/Webhooks/SecretsKey/"), "Arn"]})
    every = [s for role in synthesized.of_type("AWS::IAM::Role") for s in role_statements(synthesized, role)]
    readers = [s for s in every if {"secretsmanager:GetSecretValue", "kms:Decrypt"} & set(as_list(s["Action"]))
               and ("webhook" in text(s["Resource"]) or secrets_key in text(s["Resource"]))]
    delivery = function_statements(synthesized, "webhook_delivery")
    assert readers and all(s in delivery for s in readers)
    (read_key,) = [s for s in delivery if secrets_key in text(s["Resource"])]
    assert as_list(read_key["Action"]) == ["kms:Decrypt"] and "kms:ViaService" in text(read_key["Condition"])
    assert all(r.endswith(':secret:sdcloud/webhook/*"]]}') for r in grants(delivery, "secretsmanager:GetSecretValue"))
    api = function_statements(synthesized, "api")
    assert grants(api, "kms:GenerateDataKey") and secrets_key not in grants(api, "kms:Decrypt")
    assert all("sdcloud/webhook/*" in r for r in grants(api, "secretsmanager:PutSecretValue"))


def test_the_webhook_queue_is_encrypted_and_dead_letters_after_an_hour_of_retries_with_an_alarm(
    synthesized: Synthesized,
) -> None:
    queue_id, queue = synthesized.one("AWS::SQS::Queue", "/Webhooks/Queue/")
    dead_letters = logical_id(synthesized, "AWS::SQS::Queue", "/Webhooks/DeadLetters/")
    queues_key = logical_id(synthesized, "AWS::KMS::Key", "/Messaging/QueuesKey/")
    assert queue["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
                                                    "maxReceiveCount": WEBHOOK_MAX_RECEIVES}
    for name in (queue_id, dead_letters):
        assert synthesized.resources[name]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [queues_key, "Arn"]}
    mappings = [m["Properties"] for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}]
    assert [m["FunctionResponseTypes"] for m in mappings] == [["ReportBatchItemFailures"]]
    (alarm,) = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
                if "WebhooksUndelivered" in a["Metadata"]["aws:cdk:path"]]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters, "QueueName"]}}]
    env = function(synthesized, "webhook_delivery")["Properties"]["Environment"]["Variables"]
    assert env[ENV["webhook_queue_url"]] == {"Ref": queue_id}
    assert env[ENV["webhook_allow_loopback"]] == "False"
