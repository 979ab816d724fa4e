"""The inference jobs table.

Item layout (attribute: meaning):
  id                 job id (uuid4 hex), the key
  owner              user name; index `by_owner` (owner, created_at) lists a user's jobs newest first
  task               txt2img | img2img
  endpoint_name      the SageMaker endpoint it runs on
  status             created | in_progress | succeeded | failed
  created_at         ISO-8601 UTC with microseconds, e.g. 2026-11-25T18:00:00.123456Z
  started_at, completed_at   same format, set on the transitions
  input_key          inputs/{id}.json
  pending            "1" while in_progress, absent otherwise (sparse index `by_deadline`)
  deadline           epoch seconds after which the sweeper recovers or fails the job
  images             S3 keys of the PNGs (succeeded)
  info, infotexts, parameters, seeds, timings   from the container's manifest (succeeded)
  error              why it failed (failed)

Transitions are conditional writes: created -> in_progress -> succeeded | failed, never backwards, so a
duplicate or late notification changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lambdas.data.aws import table
from lambdas.data.tables import JOBS
from lambdas.settings import settings

PENDING = "1"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _transition(job_id: str, to_status: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
    """Move an in_progress job to `to_status`; False (and nothing written) if it is not in_progress."""
    from botocore.exceptions import ClientError

    names = {"#status": "status", **{f"#{k}": k for k in changes}}
    values = {":to": to_status, ":from": "in_progress", **{f":{k}": to_dynamo(v) for k, v in changes.items()}}
    update = "SET #status = :to" + "".join(f", #{k} = :{k}" for k in changes)
    if remove:
        names.update({f"#{k}": k for k in remove})
        update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    try:
        jobs_table().update_item(
            Key={"id": job_id},
            UpdateExpression=update,
            ConditionExpression="attribute_exists(id) AND #status = :from",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def mark_succeeded(job_id: str, result: dict[str, Any]) -> bool:
    """in_progress -> succeeded with the manifest fields (images, info, infotexts, parameters, seeds, timings)."""
    return _transition(job_id, "succeeded", {**result, "completed_at": now_iso()}, remove=("pending",))


def mark_failed(job_id: str, error: str) -> bool:
    """in_progress -> failed with a readable reason."""
    return _transition(job_id, "failed", {"error": error, "completed_at": now_iso()}, remove=("pending",))


def overdue_jobs(now: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` in_progress jobs whose deadline is at or before `now` (epoch s), earliest deadline first.

    A Query on the sparse `by_deadline` index (only in_progress jobs carry `pending`), never a Scan; the index
    is eventually consistent, so callers re-check each job with a consistent read before acting.
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
