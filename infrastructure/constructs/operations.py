"""Alarms (to an alarm topic) and one dashboard over the API, the functions and the async flow."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infrastructure.constructs.messaging import Messaging, encrypted_topic

PERIOD = Duration.minutes(5)
FAILED_JOBS_PERCENT = 25


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        messaging: Messaging,
        webhook_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = encrypted_topic(self, "AlarmTopic", messaging.topics_key)
        succeeded = messaging.success_topic.metric_number_of_messages_published(period=PERIOD)
        failed = messaging.error_topic.metric_number_of_messages_published(period=PERIOD)
        # Jobs that SageMaker reports as failed, as a share of all finished jobs (0 while none finish).
        failed_rate = cloudwatch.MathExpression(
            expression="IF(s + f > 0, 100 * f / (s + f), 0)",
            using_metrics={"s": succeeded, "f": failed},
            period=PERIOD,
            label="failed jobs %",
        )
        api_5xx = rest_api.metric_server_error(period=PERIOD, statistic="Sum")
        dead_letters = messaging.dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        notifier_errors = functions["notifier"].metric_errors(period=PERIOD, statistic="Sum")
        undelivered_webhooks = webhook_dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        self.alarms = [
            self._alarm(
                "DeadLettersNotEmpty",
                dead_letters,
                1,
                "Results, events or sweeper / endpoint-events invocations that failed wait in the DLQ",
            ),
            self._alarm("NotifierErrors", notifier_errors, 1, "The results notifier failed"),
            self._alarm(
                "WebhooksUndelivered",
                undelivered_webhooks,
                1,
                "Job webhooks that failed for every retry (over an hour) wait in the webhook dead-letter queue",
            ),
            self._alarm(
                "JobsFailing",
                failed_rate,
                FAILED_JOBS_PERCENT,
                f"{FAILED_JOBS_PERCENT}% or more of jobs fail",
            ),
            self._alarm("Api5xx", api_5xx, 1, "The API answered 5xx (always a bug)"),
        ]

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=Stack.of(self).stack_name, default_interval=Duration.hours(6)
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=self.alarms, title="Alarms", width=24, height=3),
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    rest_api.metric_count(period=PERIOD),
                    rest_api.metric_client_error(period=PERIOD),
                    api_5xx,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p90)",
                left=[rest_api.metric_latency(period=PERIOD, statistic="p90")],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Jobs finished", left=[succeeded, failed], right=[failed_rate], width=12),
            cloudwatch.GraphWidget(
                title="Results queue",
                left=[
                    messaging.results.metric_approximate_number_of_messages_visible(period=PERIOD),
                    messaging.results.metric_approximate_age_of_oldest_message(period=PERIOD),
                    dead_letters,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[fn.metric_errors(period=PERIOD, label=name) for name, fn in functions.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p90)",
                left=[fn.metric_duration(period=PERIOD, statistic="p90", label=name) for name, fn in functions.items()],
                width=12,
            ),
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.alarm_topic))
        return alarm
