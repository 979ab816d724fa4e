"""The sweeper: in_progress jobs past their deadline are recovered from S3 or failed as timed out."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest
from async_flow_helpers import (
    aws_error,
    put_in_progress_job,
    write_failure,
    write_success,
)

from api_schema.jobs import InferenceFailure
from lambdas.data.aws import client
from lambdas.data.jobs import get_job, jobs_table
from lambdas.sweeper import SweepIncomplete, handler

HOUR = 3600


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def put_overdue_job(job_id: str, started_ago: int = HOUR + 400) -> None:
    """A job started `started_ago` s ago with the default deadline (timeout 3600 s + margin 300 s)."""
    started = time.time() - started_ago
    put_in_progress_job(job_id, started_at=iso(started), deadline=int(started) + HOUR + 300)


def status(job_id: str) -> str:
    job = get_job(job_id)
    assert job is not None
    return str(job.status)


def test_a_job_whose_success_notification_was_lost_is_recovered_from_its_output(aws, no_scans):
    put_overdue_job("lost")
    write_success("lost", image_count=1)

    result = handler({}, None)

    job = get_job("lost")
    assert job is not None and result["outcomes"] == {"lost": "succeeded"}
    assert job.status == "succeeded" and job.images == ["outputs/lost/image_0.png"] and job.pending is None


def test_a_job_whose_failure_notification_was_lost_fails_with_the_containers_error(aws, no_scans):
    put_overdue_job("broken")
    write_failure("broken", InferenceFailure(status_code=500, type="ModelLoadError", message="checkpoint is corrupt"))

    handler({}, None)

    job = get_job("broken")
    assert job is not None
    assert job.status == "failed" and job.error == "checkpoint is corrupt (ModelLoadError)"


def test_a_job_with_nothing_in_s3_fails_as_timed_out(aws, no_scans):
    put_overdue_job("silent", started_ago=HOUR + 400)

    result = handler({}, None)

    job = get_job("silent")
    assert job is not None and result["outcomes"] == {"silent": "failed"}
    assert job.status == "failed" and job.pending is None
    assert job.error is not None
    elapsed = int(job.error.removeprefix("timed out after ").split(" s ")[0])
    assert HOUR + 400 <= elapsed <= HOUR + 460
    assert job.error.endswith(" s without a result from endpoint sd-endpoint")


def test_a_fresh_job_is_untouched_even_when_its_result_is_already_in_s3(aws, no_scans):
    put_overdue_job("fresh", started_ago=60)
    write_success("fresh")
    before = get_job("fresh")

    result = handler({}, None)

    assert result["outcomes"] == {}
    assert get_job("fresh") == before


def test_a_large_backlog_is_worked_off_over_several_runs(aws, no_scans):
    from lambdas.logic.sweeping import sweep

    for n in range(5):
        put_overdue_job(f"old{n}")

    first = sweep(int(time.time()), limit=3)
    second = sweep(int(time.time()), limit=3)

    assert len(first.outcomes) == 3 and len(second.outcomes) == 2
    assert {status(f"old{n}") for n in range(5)} == {"failed"}


def test_a_transient_error_on_one_job_leaves_it_for_the_next_run_and_settles_the_others(aws, no_scans):
    for job_id in ("x", "y"):
        put_overdue_job(job_id)
        write_success(job_id, image_count=1)

    with (
        aws_error(
            jobs_table().meta.client,
            "GetItem",
            "ProvisionedThroughputExceededException",
            400,
            when=lambda params: '"x"' in params["body"].decode(),
        ),
        pytest.raises(SweepIncomplete, match=r"1 job\(s\) not settled"),
    ):
        handler({}, None)

    assert (status("x"), status("y")) == ("in_progress", "succeeded")
    assert handler({}, None)["outcomes"] == {"x": "succeeded"}


def test_a_job_is_recovered_from_where_the_invocation_said_it_would_write(aws, no_scans):
    put_overdue_job("recorded")
    location = write_success("recorded")
    custom = f"s3://{aws.settings.bucket}/async/success/elsewhere.out"
    s3 = boto3.client("s3")
    s3.copy_object(Bucket=aws.settings.bucket, Key="async/success/elsewhere.out", CopySource=location[5:])
    s3.delete_object(Bucket=aws.settings.bucket, Key="async/success/recorded.out")
    jobs_table().update_item(
        Key={"id": "recorded"},
        UpdateExpression="SET output_location = :o",
        ExpressionAttributeValues={":o": custom},
    )

    assert handler({}, None)["outcomes"] == {"recorded": "succeeded"}


def test_a_created_job_whose_payload_never_came_fails_when_its_upload_window_ends(aws, no_scans):
    jobs_table().put_item(
        Item={
            "id": "never",
            "owner": "alice",
            "task": "txt2img",
            "endpoint_name": "sd-endpoint",
            "status": "created",
            "created_at": iso(time.time() - 4000),
            "input_key": "inputs/never.json",
            "pending": "1",
            "deadline": int(time.time()) - 100,
        }
    )

    handler({}, None)

    job = get_job("never")
    assert job is not None and job.status == "failed" and job.pending is None
    assert job.error == "the payload was not uploaded and started before the upload URL expired"


def test_a_result_that_cannot_be_read_fails_the_job_an_hour_after_its_deadline(aws, no_scans):
    put_overdue_job("recent", started_ago=HOUR + 400)
    put_overdue_job("ancient", started_ago=3 * HOUR)

    with (
        aws_error(client("s3"), "HeadObject", "AccessDenied", 403, when=lambda _: True),
        pytest.raises(SweepIncomplete, match=r"1 job\(s\) not settled"),
    ):
        handler({}, None)

    assert status("recent") == "in_progress"
    job = get_job("ancient")
    assert job is not None and job.status == "failed"
    assert job.error == "its result could not be read: AccessDenied"
