"""The local provisioning builds what the handlers expect, and SNS delivers raw messages to the queue."""

import json

import boto3

from api_schema.jobs import InferenceManifest, Timings
from lambdas.data.jobs import get_job, jobs_table, mark_failed, mark_succeeded


def test_topics_deliver_raw_messages_to_the_results_queue(aws):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    sns.publish(TopicArn=aws.settings.error_topic_arn, Message=json.dumps({"inferenceId": "x"}))

    messages = sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]

    assert [json.loads(m["Body"]) for m in messages] == [{"inferenceId": "x"}]


def test_a_job_leaves_in_progress_exactly_once(aws):
    jobs_table().put_item(Item={"id": "j1", "owner": "u", "task": "txt2img", "endpoint_name": "sd",
                                "status": "in_progress", "created_at": "2026-11-25T18:00:00.000000Z",
                                "input_key": "inputs/j1.json", "pending": "1", "deadline": 1})

    def manifest(job_id: str, images: list[str], seeds: list[int]) -> InferenceManifest:
        return InferenceManifest(job_id=job_id, images=images, info="", infotexts=[], parameters={}, seeds=seeds,
                                 timings=Timings())

    assert mark_succeeded("j1", manifest("j1", ["outputs/j1/image_0.png"], [1]))
    assert not mark_failed("j1", "late failure")
    assert not mark_succeeded("missing", manifest("missing", [], []))

    job = get_job("j1")
    assert job is not None
    assert job.status == "succeeded" and job.seeds == [1] and job.pending is None and job.error is None
