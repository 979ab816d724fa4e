"""The handlers of the async flow: the results notifier, the deadline sweeper, the endpoint-state listener."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

from api_schema.s3_layout import ASYNC, OUTPUTS
from infrastructure.constructs.function import PythonFunction
from infrastructure.constructs.messaging import Messaging
from infrastructure.lambda_code import LambdaCode
from infrastructure.permissions import list_keys, on_objects, on_tables, query_indexes, sagemaker_arn
from lambdas.functions import ENDPOINT_EVENTS, NOTIFIER, SWEEPER

SWEEP_EVERY = Duration.minutes(5)
RESULT_PREFIXES = (ASYNC, OUTPUTS)
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


class AsyncFlow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        environment: Mapping[str, str],
        bucket: s3.IBucket,
        tables: Mapping[str, dynamodb.ITable],
        messaging: Messaging,
        prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        jobs = tables["jobs_table"]
        self.notifier = PythonFunction(
            self,
            "Notifier",
            code=code,
            spec=NOTIFIER,
            description="sd-cloud async results -> job status",
            environment=environment,
            permissions=[
                on_objects(["GetObject"], bucket, RESULT_PREFIXES),
                list_keys(bucket),
                on_tables(["GetItem", "UpdateItem"], jobs),
            ],
        )
        self.notifier.function.add_event_source(
            event_sources.SqsEventSource(messaging.results, batch_size=10, report_batch_item_failures=True)
        )

        self.sweeper = PythonFunction(
            self,
            "Sweeper",
            code=code,
            spec=SWEEPER,
            description="sd-cloud overdue jobs: recover from S3 or fail; queue lost webhooks",
            environment=environment,
            dead_letter_queue=messaging.dead_letters,
            reserved_concurrency=1,  # one sweep at a time, however late the schedule runs
            permissions=[
                query_indexes((jobs, "by_deadline"), (jobs, "by_announce")),  # overdue jobs; the webhook outbox
                on_tables(["GetItem", "UpdateItem"], jobs),
                on_objects(["GetObject"], bucket, RESULT_PREFIXES),
                list_keys(bucket),
            ],
        )
        events.Rule(
            self,
            "SweepSchedule",
            schedule=events.Schedule.rate(SWEEP_EVERY),
            targets=[targets.LambdaFunction(self.sweeper.function, dead_letter_queue=messaging.dead_letters)],
        )

        stack = Stack.of(self)
        self.endpoint_events = PythonFunction(
            self,
            "EndpointEvents",
            code=code,
            spec=ENDPOINT_EVENTS,
            description="sd-cloud SageMaker endpoint state -> endpoints table and autoscaling",
            environment=environment,
            dead_letter_queue=messaging.dead_letters,
            # State changes are rare; one at a time keeps an event storm from flooding autoscaling's API.
            reserved_concurrency=1,
            permissions=[
                on_tables(["GetItem", "PutItem", "UpdateItem", "DeleteItem"], tables["endpoints_table"]),
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                    resources=[sagemaker_arn(self, "endpoint", prefix)],
                ),
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeEndpointConfig"],
                    resources=[sagemaker_arn(self, "endpoint-config", prefix)],
                ),
                iam.PolicyStatement(
                    actions=[
                        "application-autoscaling:RegisterScalableTarget",
                        "application-autoscaling:DeregisterScalableTarget",
                        "application-autoscaling:PutScalingPolicy",
                        "application-autoscaling:DeleteScalingPolicy",
                    ],
                    resources=[
                        stack.format_arn(
                            service="application-autoscaling", resource="scalable-target", resource_name="*"
                        )
                    ],
                ),
                # The Describe calls have no resource-level permissions.
                iam.PolicyStatement(
                    actions=[
                        "application-autoscaling:DescribeScalableTargets",
                        "application-autoscaling:DescribeScalingPolicies",
                        "application-autoscaling:DescribeScalingActivities",
                    ],
                    resources=["*"],
                ),
                # Alarms this stack names, and those target tracking creates for its endpoints.
                iam.PolicyStatement(
                    actions=[
                        "cloudwatch:PutMetricAlarm",
                        "cloudwatch:DeleteAlarms",
                        "cloudwatch:DescribeAlarms",
                    ],
                    resources=[
                        stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                        for name in (f"{prefix}-*", f"TargetTracking-endpoint/{prefix}-*")
                    ],
                ),
                iam.PolicyStatement(
                    actions=["iam:CreateServiceLinkedRole"],
                    resources=[
                        stack.format_arn(
                            service="iam",
                            region="",
                            resource="role",
                            resource_name=f"aws-service-role/{AUTOSCALING_SERVICE}/"
                            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                        )
                    ],
                    conditions={"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
                ),
            ],
        )
        events.Rule(
            self,
            "EndpointStateChange",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Endpoint State Change"],
                detail={"EndpointName": events.Match.prefix(f"{prefix}-")},
            ),
            targets=[targets.LambdaFunction(self.endpoint_events.function, dead_letter_queue=messaging.dead_letters)],
        )
