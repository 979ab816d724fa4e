"""The result notifier: SageMaker notifications published to SNS, delivered to SQS, run through the real handler."""

from __future__ import annotations

import json

import boto3
import pytest
from async_flow_helpers import (
    aws_error,
    failure_notification,
    manifest_for,
    publish,
    put_in_progress_job,
    receive_batch,
    success_notification,
    write_failure,
    write_images,
    write_output,
    write_success,
)

from api_schema.jobs import InferenceFailure
from lambdas.data.aws import client
from lambdas.data.jobs import get_job, jobs_table


def job(job_id: str) -> dict:
    """The job as stored: its attributes, absent ones left out."""
    record = get_job(job_id)
    assert record is not None
    return record.model_dump(exclude_none=True)


def test_a_success_notification_completes_the_job_with_the_manifest(aws, run_notifier):
    put_in_progress_job("j1")
    publish(success_notification("j1", write_success("j1", image_count=2)))

    _, failed = run_notifier()

    assert failed == []
    done = job("j1")
    assert done["status"] == "succeeded"
    assert done["images"] == ["outputs/j1/image_0.png", "outputs/j1/image_1.png"]
    assert done["seeds"] == [42, 43]
    assert done["info"].startswith("a cat\nNegative prompt: dog\nSteps: 20")
    assert len(done["infotexts"]) == 2
    assert done["parameters"] == {"prompt": "a cat", "steps": 20, "cfg_scale": 7.5}
    assert done["timings"] == {"load_s": 1.5, "inference_s": 3.25, "upload_s": 0.5, "total_s": 5.25}
    assert done["completed_at"] >= done["started_at"]
    assert "pending" not in done and "error" not in done
    assert receive_batch(aws.queue_url) == []


def test_a_failure_notification_fails_the_job_with_the_containers_error(aws, run_notifier):
    put_in_progress_job("j2")
    failure = InferenceFailure(
        job_id="j2", status_code=400, type="InvalidJob", message="unknown LoRA 'ghost'", field="payload.prompt"
    )
    reason = "ClientError: Received client error (400) from primary with message ..."
    publish(failure_notification("j2", reason, write_failure("j2", failure)), error=True)

    _, failed = run_notifier()

    assert failed == []
    done = job("j2")
    assert done["status"] == "failed"
    assert done["error"] == "unknown LoRA 'ghost' (InvalidJob, field payload.prompt)"
    assert "pending" not in done and "images" not in done


@pytest.mark.parametrize(
    ("failure_body", "expected"),
    [
        (None, "ClientError: Received server error (500) from primary"),
        ("<html>Internal Server Error</html>", "ClientError: Received server error (500) from primary"),
    ],
    ids=["no failure object", "failure object not from the container"],
)
def test_without_a_readable_failure_object_the_reason_from_sagemaker_is_the_error(
    aws, run_notifier, failure_body, expected
):
    put_in_progress_job("j3")
    location = write_failure("j3", failure_body) if failure_body else None
    publish(failure_notification("j3", "ClientError: Received server error (500) from primary", location), error=True)

    run_notifier()

    assert job("j3")["status"] == "failed"
    assert job("j3")["error"] == expected


def test_a_duplicate_notification_changes_nothing(aws, run_notifier):
    put_in_progress_job("j4")
    message = success_notification("j4", write_success("j4"))
    publish(message)
    run_notifier()
    first = job("j4")

    publish(message)
    _, failed = run_notifier()

    assert failed == []
    assert job("j4") == first


def test_a_success_after_a_failure_changes_nothing(aws, run_notifier):
    put_in_progress_job("j5")
    publish(failure_notification("j5", "ModelError: out of memory"), error=True)
    run_notifier()
    failed_job = job("j5")

    publish(success_notification("j5", write_success("j5")))
    _, failed = run_notifier()

    assert failed == []
    assert job("j5") == failed_job
    assert failed_job["status"] == "failed" and failed_job["error"] == "ModelError: out of memory"


def test_a_failure_after_a_success_changes_nothing(aws, run_notifier):
    put_in_progress_job("j6")
    publish(success_notification("j6", write_success("j6")))
    run_notifier()
    succeeded = job("j6")

    publish(failure_notification("j6", "late failure"), error=True)
    run_notifier()

    assert job("j6") == succeeded


def test_a_notification_for_an_unknown_or_deleted_job_is_acknowledged_and_writes_nothing(aws, run_notifier):
    publish(success_notification("ghost", write_success("ghost")))
    publish(failure_notification("ghost", "whatever"), error=True)

    _, failed = run_notifier()

    assert failed == []
    assert get_job("ghost") is None


def test_the_sagemaker_test_notification_is_acknowledged_and_changes_nothing(aws, run_notifier):
    put_in_progress_job("j7")
    before = job("j7")
    publish({"eventName": "TestNotification", "eventSource": "aws:sagemaker", "eventTime": "2026-11-25T18:00:00Z"})

    _, failed = run_notifier()

    assert failed == []
    assert job("j7") == before
    assert receive_batch(aws.queue_url) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "body is not JSON"),
        ("[1, 2]", "body is not a JSON object"),
        (json.dumps({"inferenceId": "j8"}), "eventName is missing"),
        (
            json.dumps({"eventName": "InferenceResult", "invocationStatus": "Completed", "inferenceId": "j8"}),
            "outputLocation",
        ),
        (
            json.dumps({"eventName": "InferenceResult", "invocationStatus": "Exploded", "inferenceId": "j8"}),
            "invocationStatus",
        ),
        (
            json.dumps(
                {
                    "eventName": "InferenceResult",
                    "invocationStatus": "Completed",
                    "inferenceId": "j8",
                    "responseParameters": {"outputLocation": "https://example.com/x.out"},
                }
            ),
            "not an s3://bucket/key location",
        ),
    ],
    ids=["not json", "not an object", "no eventName", "success without output", "unknown status", "not s3"],
)
def test_a_malformed_notification_is_acknowledged_logged_with_its_reason_and_changes_nothing(
    aws, run_notifier, caplog, body, reason
):
    put_in_progress_job("j8")
    before = job("j8")
    publish(body)

    _, failed = run_notifier()

    assert failed == []
    assert job("j8") == before
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert warnings[0].outcome == "malformed"


def test_a_success_whose_output_object_is_missing_fails_the_job_with_a_clear_error(aws, run_notifier):
    put_in_progress_job("j9")
    publish(success_notification("j9", f"s3://{aws.settings.bucket}/async/success/j9.out"))

    _, failed = run_notifier()

    assert failed == []
    done = job("j9")
    assert done["status"] == "failed"
    assert done["error"] == (
        f"the endpoint reported success but its result s3://{aws.settings.bucket}/async/success/j9.out is missing"
    )


def test_a_success_whose_images_are_missing_fails_the_job_naming_them(aws, run_notifier):
    put_in_progress_job("j10")
    images = [*write_images("j10", 1), "outputs/j10/image_1.png"]
    publish(success_notification("j10", write_output("j10", manifest_for("j10", images).model_dump_json())))

    run_notifier()

    assert job("j10")["status"] == "failed"
    assert job("j10")["error"] == "1 of 2 result images are missing: outputs/j10/image_1.png"


@pytest.mark.parametrize(
    ("manifest_change", "error_part"),
    [
        ({"job_id": "someone-else"}, "belongs to job 'someone-else'"),
        ({"images": ["models/checkpoint/abc/model.safetensors"]}, "names images outside outputs/j11/"),
        ({"seeds": "many"}, "is not a valid manifest (seeds:"),
    ],
    ids=["other job", "keys outside the job", "invalid"],
)
def test_a_success_with_an_unusable_manifest_fails_the_job(aws, run_notifier, manifest_change, error_part):
    put_in_progress_job("j11")
    body = {**manifest_for("j11", write_images("j11", 1)).model_dump(), **manifest_change}
    publish(success_notification("j11", write_output("j11", json.dumps(body))))

    run_notifier()

    assert job("j11")["status"] == "failed"
    assert error_part in job("j11")["error"]


@pytest.mark.parametrize(
    ("service", "operation", "code", "status"),
    [
        ("dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", 400),
        ("s3", "GetObject", "SlowDown", 503),
    ],
    ids=["dynamodb throttling", "s3 slow down"],
)
def test_throttling_on_one_record_fails_only_that_record_and_its_retry_completes_it(
    aws, run_notifier, service, operation, code, status
):
    for job_id in ("a", "b", "c"):
        put_in_progress_job(job_id)
        publish(success_notification(job_id, write_success(job_id)))
    aws_client = jobs_table().meta.client if service == "dynamodb" else client("s3")

    def for_job_b(params: dict) -> bool:
        if service == "dynamodb":
            return json.loads(params["body"])["Key"]["id"]["S"] == "b"
        return params["url_path"].endswith("/async/success/b.out")

    with aws_error(aws_client, operation, code, status, when=for_job_b):
        messages, failed = run_notifier()

    by_job = {json.loads(m["Body"])["inferenceId"]: m["MessageId"] for m in messages}
    assert failed == [by_job["b"]]
    assert [job(j)["status"] for j in ("a", "b", "c")] == ["succeeded", "in_progress", "succeeded"]

    messages, failed = run_notifier()  # the failed record only, back after its visibility timeout

    assert [m["MessageId"] for m in messages] == [by_job["b"]] and failed == []
    assert job("b")["status"] == "succeeded"
    assert (
        boto3.client("sqs").get_queue_attributes(
            QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )
