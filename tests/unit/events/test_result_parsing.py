"""Pure parts of the result flow: locations, the container's failure body, notifications that settle nothing."""

from __future__ import annotations

import json

import pytest

from lambdas.data.records import JobRecord
from lambdas.data.results_store import S3Location, async_failure_location, async_output_location
from lambdas.logic.notifications import handle_notification
from lambdas.logic.results import Outcome, describe_failure
from lambdas.logic.sweeping import timed_out_error


def test_s3_locations_parse_and_print_back():
    location = S3Location.parse("s3://bucket/async/success/a%20b.out")

    assert location == S3Location("bucket", "async/success/a b.out")
    assert str(S3Location("b", "k/x.out")) == "s3://b/k/x.out"


@pytest.mark.parametrize("uri", ["https://b/k", "s3://bucket", "s3:///key", ""])
def test_anything_but_an_s3_object_uri_is_refused(uri):
    with pytest.raises(ValueError, match="not an s3://bucket/key location"):
        S3Location.parse(uri)


def test_the_sweeper_looks_where_sagemaker_writes_results():
    assert str(async_output_location("b", "j1")) == "s3://b/async/success/j1.out"
    assert str(async_failure_location("b", "j1")) == "s3://b/async/failure/j1-error.out"


def test_the_containers_failure_body_reads_as_one_sentence():
    body = {"status_code": 400, "type": "InvalidJob", "message": "steps must be <= 150", "field": "payload.steps"}

    assert describe_failure(json.dumps(body)) == "steps must be <= 150 (InvalidJob, field payload.steps)"
    assert describe_failure(json.dumps({**body, "field": None})) == "steps must be <= 150 (InvalidJob)"
    assert describe_failure("Internal Server Error") is None
    assert describe_failure('{"detail": "not ours"}') is None


@pytest.mark.parametrize(
    "body",
    [
        {"eventName": "TestNotification"},
        {"eventName": "TestNotification", "eventSource": "aws:sagemaker", "invocationStatus": "Completed"},
    ],
)
def test_a_test_notification_is_ignored(body):
    handled = handle_notification(json.dumps(body))

    assert handled.outcome is Outcome.IGNORED and "TestNotification" in handled.detail


def test_a_malformed_notification_says_which_field_is_wrong():
    handled = handle_notification(json.dumps({"eventName": "InferenceResult", "invocationStatus": "Completed"}))

    assert handled.outcome is Outcome.MALFORMED
    assert "inferenceId: Field required" in handled.detail


def test_a_timed_out_job_says_how_long_it_waited():
    def job(endpoint_name: str, started_at: str | None) -> JobRecord:
        return JobRecord(id="j", owner="u", task="txt2img", endpoint_name=endpoint_name, status="in_progress",
                         created_at="", started_at=started_at, input_key="inputs/j.json", deadline=0)

    started = 1795629600  # 2026-11-25T18:00:00Z

    assert timed_out_error(job("sd", "2026-11-25T18:00:00.000000Z"), started + 3901) == (
        "timed out after 3901 s without a result from endpoint sd")
    assert timed_out_error(job("", None), started) == "timed out without a result from the endpoint"
