"""The local provisioning builds what the handlers expect, and SNS delivers raw messages to the queue."""

import json

import boto3

from lambdas.data.jobs import get_job, jobs_table, mark_failed, mark_succeeded


def test_topics_deliver_raw_messages_to_the_results_queue(aws):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    sns.publish(TopicArn=aws.settings.error_topic_arn, Message=json.dumps({"inferenceId": "x"}))

    messages = sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]

    assert [json.loads(m["Body"]) for m in messages] == [{"inferenceId": "x"}]


def test_a_job_leaves_in_progress_exactly_once(aws):
    jobs_table().put_item(Item={"id": "j1", "owner": "u", "status": "in_progress", "pending": "1", "deadline": 1})

    assert mark_succeeded("j1", {"images": ["outputs/j1/image_0.png"], "seeds": [1]})
    assert not mark_failed("j1", "late failure")
    assert not mark_succeeded("missing", {"images": []})

    job = get_job("j1")
    assert job is not None
    assert job["status"] == "succeeded" and job["seeds"] == [1] and "pending" not in job and "error" not in job
