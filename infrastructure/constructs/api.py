"""The REST API: API Gateway before the API Lambda; every route but GET /ping behind the key authorizer."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from api_schema import s3_layout
from api_schema.s3_layout import ASYNC, INPUTS, MODELS, OUTPUTS
from infrastructure.constructs.function import LOG_RETENTION, PythonFunction, log_group
from infrastructure.lambda_code import LambdaCode
from infrastructure.permissions import list_keys, on_objects, on_tables, query_indexes, sagemaker_arn
from lambdas.functions import API, AUTHORIZER

STAGE = "prod"
API_KEY_HEADER = "x-api-key"
AUTHORIZER_CACHE = Duration.seconds(60)
# `messageString` is API Gateway's message, already a quoted JSON string.
ERROR_TEMPLATE = '{"message": $context.error.messageString, "field": null}'


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        environment: Mapping[str, str],
        bucket: s3.IBucket,
        tables: Mapping[str, dynamodb.ITable],
        sagemaker_role: iam.IRole,
        prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Handler",
            code=code,
            spec=API,
            description="sd-cloud REST API",
            environment=environment,
            permissions=[
                on_tables(
                    ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"],
                    tables["users_table"],
                    tables["models_table"],
                    tables["endpoints_table"],
                    tables["jobs_table"],
                ),
                query_indexes(
                    (tables["users_table"], "by_created"),
                    (tables["models_table"], "by_type"),
                    (tables["endpoints_table"], "by_created"),
                    (tables["jobs_table"], "by_owner"),
                    (tables["jobs_table"], "by_queue"),
                ),
                on_tables(["GetItem", "PutItem", "UpdateItem", "DeleteItem"], tables["idempotency_table"]),
                # Reads (presigned downloads, size checks, progress) and deletes; it writes only uploads, job
                # inputs and cancel markers.
                on_objects(["GetObject"], bucket, [MODELS, INPUTS, OUTPUTS]),
                on_objects(["PutObject"], bucket, [MODELS, INPUTS]),
                iam.PolicyStatement(actions=["s3:PutObject"],
                                    resources=[bucket.arn_for_objects(s3_layout.cancel_key("*"))]),
                on_objects(["AbortMultipartUpload", "ListMultipartUploadParts"], bucket, [MODELS]),
                on_objects(["DeleteObject"], bucket, [MODELS, INPUTS, OUTPUTS, ASYNC]),
                list_keys(bucket),
                iam.PolicyStatement(
                    actions=["sagemaker:CreateModel", "sagemaker:DeleteModel"],
                    resources=[sagemaker_arn(self, "model", prefix)],
                ),
                iam.PolicyStatement(
                    actions=["sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig"],
                    resources=[sagemaker_arn(self, "endpoint-config", prefix)],
                ),
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:CreateEndpoint",
                        "sagemaker:DescribeEndpoint",
                        "sagemaker:DeleteEndpoint",
                        "sagemaker:InvokeEndpointAsync",
                    ],
                    # CreateEndpoint is authorized on the endpoint and on the config it uses.
                    resources=[
                        sagemaker_arn(self, "endpoint", prefix),
                        sagemaker_arn(self, "endpoint-config", prefix),
                    ],
                ),
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[sagemaker_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                ),
            ],
        )
        self.authorizer_handler = PythonFunction(
            self,
            "Authorizer",
            code=code,
            spec=AUTHORIZER,
            description="sd-cloud API key authorizer",
            environment=environment,
            permissions=[query_indexes((tables["users_table"], "by_key_hash"))],
        )
        self.access_logs = log_group(self, "AccessLogs")
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            description="sd-cloud REST API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
            default_cors_preflight_options=apigateway.CorsOptions(
                allow_origins=apigateway.Cors.ALL_ORIGINS,
                allow_methods=apigateway.Cors.ALL_METHODS,
                allow_headers=[*apigateway.Cors.DEFAULT_HEADERS, API_KEY_HEADER],
            ),
        )
        # API Gateway would create its execution log group itself, without retention: create it first.
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{STAGE}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api.deployment_stage.node.add_dependency(execution_logs)
        # Errors that API Gateway answers itself (401/403 from the authorizer, 413, throttling) carry CORS
        # too, and the API's error shape (the local gateway answers the same).
        for response_type in (apigateway.ResponseType.DEFAULT_4_XX, apigateway.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Cors{response_type.response_type}",
                type=response_type,
                response_headers={"Access-Control-Allow-Origin": "'*'"},
                templates={"application/json": ERROR_TEMPLATE},
            )
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigateway.LambdaIntegration(self.handler.function)
        self.rest_api.root.add_resource("ping").add_method(
            "GET",
            integration,
            authorization_type=apigateway.AuthorizationType.NONE,
            request_validator=validator,
        )
        authorizer = apigateway.RequestAuthorizer(
            self,
            "KeyAuthorizer",
            handler=self.authorizer_handler.function,
            identity_sources=[apigateway.IdentitySource.header(API_KEY_HEADER)],
            results_cache_ttl=AUTHORIZER_CACHE,
        )
        # Not `any_method=True`: its ANY on `/` would skip the authorizer (add_method mirrors ANY onto `/`
        # with the authorizer).
        self.rest_api.root.add_proxy(any_method=False).add_method(
            "ANY", integration, authorizer=authorizer, request_validator=validator
        )
