"""The inference jobs table.

Item layout (attribute: meaning):
  id                 job id (uuid4 hex), the key
  owner              user name; index `by_owner` (owner, created_at) lists a user's jobs newest first
  task               txt2img | img2img
  endpoint_name      the SageMaker endpoint it runs on
  status             created | in_progress | succeeded | failed | cancelled
  created_at         ISO-8601 UTC with microseconds, e.g. 2026-11-25T18:00:00.123456Z
  started_at, completed_at   same format, set on the transitions
  input_key          inputs/{id}.json
  payload_key        inputs/{id}.payload.json, where a `payload_upload` job's client uploads its payload
  output_location, failure_location   what InvokeEndpointAsync answered (s3:// URIs)
  pending            "1" while created or in_progress, absent otherwise (sparse index `by_deadline`)
  queue              the endpoint_name while in_progress, absent otherwise (sparse index `by_queue`, sorted by
                     started_at: the jobs waiting for or running on an endpoint, in the order they were handed to it)
  deadline           epoch seconds after which the sweeper recovers or fails the job (for a created job:
                     the end of its upload window)
  images             S3 keys of the PNGs (succeeded): the generated images, then any ControlNet detected maps
  image_kinds        one per image, "image" or "detected_map" (absent or empty: all "image")
  info, infotexts, parameters, seeds, timings   from the container's manifest (succeeded)
  error              why it failed (failed)

Transitions are conditional writes: created -> in_progress -> succeeded | failed | cancelled (and created ->
failed | cancelled for a payload that never came or a job cancelled before it started), never backwards, so
a duplicate or late notification changes nothing.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lambdas.data.aws import table
from lambdas.data.pages import Page, query_page
from lambdas.data.tables import JOBS
from lambdas.settings import settings

PENDING = "1"
PAGE_KEY = {"id", "owner", "created_at"}  # the LastEvaluatedKey of index by_owner
ENDED_REMOVES = ("pending", "queue")  # the sparse index attributes of a job that has not ended


def iso(moment: datetime) -> str:
    """A UTC time as every table stores it: ISO-8601 with microseconds, so strings compare as times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def to_dynamo(value: Any) -> Any:
    """JSON-like data as DynamoDB accepts it (floats as Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    """DynamoDB data back as JSON-like Python (Decimal as int or float)."""
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def jobs_table() -> Any:
    return table(getattr(settings(), JOBS.setting))


def get_job(job_id: str) -> dict[str, Any] | None:
    item = jobs_table().get_item(Key={"id": job_id}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def _transition(
    job_id: str,
    to_status: str,
    changes: dict[str, Any],
    remove: tuple[str, ...] = (),
    from_statuses: tuple[str, ...] = ("in_progress",),
) -> bool:
    """Move a job in one of `from_statuses` to `to_status`; False (and nothing written) if it is in none."""
    from botocore.exceptions import ClientError

    names = {"#status": "status", **{f"#{k}": k for k in changes}}
    froms = {f":from{i}": status for i, status in enumerate(from_statuses)}
    values = {":to": to_status, **froms, **{f":{k}": to_dynamo(v) for k, v in changes.items()}}
    update = "SET #status = :to" + "".join(f", #{k} = :{k}" for k in changes)
    if remove:
        names.update({f"#{k}": k for k in remove})
        update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    try:
        jobs_table().update_item(
            Key={"id": job_id},
            UpdateExpression=update,
            ConditionExpression=f"attribute_exists(id) AND #status IN ({', '.join(froms)})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def create_job(item: dict[str, Any]) -> None:
    jobs_table().put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(id)")


def get_job_of(job_id: str, owner: str) -> dict[str, Any] | None:
    """The job if `owner` owns it; another user's job is as absent as a missing one."""
    job = get_job(job_id)
    return job if job and job.get("owner") == owner else None


def start_job(job_id: str, endpoint_name: str, deadline: int, warnings: list[dict[str, str]]) -> bool:
    """created -> in_progress with a new deadline and its payload's warnings; False (nothing written) if the
    job is not created."""
    return _transition(
        job_id, "in_progress",
        {"started_at": now_iso(), "pending": PENDING, "queue": endpoint_name, "deadline": deadline,
         "warnings": warnings},
        from_statuses=("created",),
    )


def record_invocation(job_id: str, output_location: str | None, failure_location: str | None) -> None:
    """Keep where SageMaker will write the job's response (for the sweeper and for deletion)."""
    from botocore.exceptions import ClientError

    answered = {"output_location": output_location, "failure_location": failure_location}
    locations = {k: v for k, v in answered.items() if v}
    if not locations:
        return
    try:
        jobs_table().update_item(
            Key={"id": job_id},
            UpdateExpression="SET " + ", ".join(f"{k} = :{k}" for k in locations),
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={f":{k}": v for k, v in locations.items()},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def list_jobs_of(owner: str, limit: int, start_key: dict[str, Any] | None, **equal: str | None) -> Page:
    """An owner's jobs newest first (index `by_owner`), optionally only those whose attributes equal `equal`."""
    from boto3.dynamodb.conditions import Attr, Key

    query: dict[str, Any] = {"IndexName": "by_owner", "KeyConditionExpression": Key("owner").eq(owner),
                             "ScanIndexForward": False}
    conditions: list[Any] = [Attr(name).eq(value) for name, value in equal.items() if value]
    if conditions:
        query["FilterExpression"] = functools.reduce(lambda a, b: a & b, conditions)
    page = query_page(jobs_table(), limit, start_key, **query)
    page.items = [from_dynamo(i) for i in page.items]
    return page


def delete_job(job_id: str) -> None:
    jobs_table().delete_item(Key={"id": job_id})


def mark_succeeded(job_id: str, result: dict[str, Any]) -> bool:
    """in_progress -> succeeded with the manifest fields (images, image_kinds, info, infotexts, parameters, seeds,
    timings)."""
    return _transition(job_id, "succeeded", {**result, "completed_at": now_iso()}, remove=ENDED_REMOVES)


def mark_failed(job_id: str, error: str) -> bool:
    """created | in_progress -> failed with a readable reason."""
    return _transition(
        job_id, "failed", {"error": error, "completed_at": now_iso()}, remove=ENDED_REMOVES,
        from_statuses=("created", "in_progress"),
    )


def mark_cancelled(job_id: str) -> bool:
    """created | in_progress -> cancelled; False (nothing written) if the job has ended already."""
    return _transition(job_id, "cancelled", {"completed_at": now_iso()}, remove=ENDED_REMOVES,
                       from_statuses=("created", "in_progress"))


def queued_before(endpoint_name: str, started_at: str, limit: int) -> list[str]:
    """The ids of up to `limit` in_progress jobs handed to the endpoint before `started_at`, latest first
    (index `by_queue`)."""
    from boto3.dynamodb.conditions import Key

    page = jobs_table().query(
        IndexName="by_queue",
        KeyConditionExpression=Key("queue").eq(endpoint_name) & Key("started_at").lt(started_at),
        ScanIndexForward=False, Limit=limit, ProjectionExpression="id",
    )
    return [str(item["id"]) for item in page["Items"]]


def overdue_jobs(now: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` unfinished jobs whose deadline is at or before `now` (epoch s), earliest deadline first.

    A Query on the sparse `by_deadline` index (only created and in_progress jobs carry `pending`), never a
    Scan; the index is eventually consistent, so callers re-check each job with a consistent read before acting.
    """
    from boto3.dynamodb.conditions import Key

    jobs: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while len(jobs) < limit:
        query: dict[str, Any] = {
            "IndexName": "by_deadline",
            "KeyConditionExpression": Key("pending").eq(PENDING) & Key("deadline").lte(now),
            "Limit": limit - len(jobs),
        }
        if start:
            query["ExclusiveStartKey"] = start
        page = jobs_table().query(**query)
        jobs.extend(from_dynamo(item) for item in page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return jobs
