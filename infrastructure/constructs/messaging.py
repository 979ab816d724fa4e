"""The async results path: SageMaker publishes to the success and error topics, both feed one queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.functions import NOTIFIER


def encrypted_topic(scope: Construct, construct_id: str, key: kms.IKey) -> sns.Topic:
    return sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True)


def encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey, **options: Any) -> sqs.Queue:
    """An SQS queue under the customer managed `key`, refusing plain HTTP."""
    return sqs.Queue(
        scope, construct_id, encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
        **options,
    )


class Messaging(Construct):
    """The KMS keys, the success/error topics, the results queue and the dead-letter queue."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Customer managed keys, not aws/sns or aws/sqs: CloudWatch alarms and SageMaker can only publish to
        # encrypted topics, and SNS and EventBridge only send to encrypted queues, whose key policy lets them
        # (SNS is granted per subscription, on the topic's ARN: the queues' key is another key, or the two
        # policies would refer to each other).
        self.topics_key = kms.Key(self, "TopicsKey", enable_key_rotation=True, description="sd-cloud SNS topics")
        self.topics_key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.queues_key = kms.Key(self, "QueuesKey", enable_key_rotation=True, description="sd-cloud SQS queues")
        self.queues_key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.success_topic = encrypted_topic(self, "SuccessTopic", self.topics_key)
        self.error_topic = encrypted_topic(self, "ErrorTopic", self.topics_key)
        # Results the notifier could not process, events EventBridge could not deliver, and asynchronous
        # invocations of the sweeper and endpoint-events functions that failed after Lambda's retries.
        self.dead_letters = encrypted_queue(
            self, "DeadLetters", self.queues_key, retention_period=Duration.days(14)
        )
        self.results = encrypted_queue(
            self,
            "Results",
            self.queues_key,
            # six times the notifier's timeout, as AWS advises for a queue feeding a function
            visibility_timeout=Duration.seconds(NOTIFIER.timeout_s * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
        )
        for topic in (self.success_topic, self.error_topic):
            topic.add_subscription(subscriptions.SqsSubscription(self.results, raw_message_delivery=True))
