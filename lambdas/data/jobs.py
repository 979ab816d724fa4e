"""The inference jobs table: `JobRecord` items (`lambdas.data.records`) and their conditional transitions.

Every transition is a conditional write that returns the record it wrote, or None (nothing written) when the
job is not in a state it may leave that way: no transition goes backwards.
"""

from __future__ import annotations

import functools
from typing import Any

from api_schema.jobs import InferenceManifest
from api_schema.resources import FieldMessage
from lambdas.data.aws import table
from lambdas.data.dynamo import Item, conditional_update, now_iso, to_dynamo
from lambdas.data.pages import Page, StartKey, query_page
from lambdas.data.records import JobRecord
from lambdas.data.tables import JOBS
from lambdas.settings import settings

PENDING = "1"
ANNOUNCE = "1"  # a job with a webhook_url whose end is not yet queued (index `by_announce` once it has ended)
PAGE_KEY = {"id", "owner", "created_at"}  # the LastEvaluatedKey of index by_owner
MANIFEST_FIELDS = {"images", "image_kinds", "info", "infotexts", "parameters", "seeds", "timings"}
ENDED_REMOVES = ("pending", "queue")  # the sparse index attributes of a job that has not ended


def jobs_table() -> Any:
    return table(getattr(settings(), JOBS.setting))


def get_job(job_id: str) -> JobRecord | None:
    item = jobs_table().get_item(Key={"id": job_id}, ConsistentRead=True).get("Item")
    return JobRecord.from_item(item) if item else None


def _update(
    job_id: str, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
) -> JobRecord | None:
    """One conditional UpdateItem; the job as written, or None when the condition does not hold."""
    return conditional_update(
        jobs_table(),
        JobRecord,
        Key={"id": job_id},
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _transition(
    job_id: str,
    to_status: str,
    changes: dict[str, Any],
    remove: tuple[str, ...] = (),
    from_statuses: tuple[str, ...] = ("in_progress",),
) -> JobRecord | None:
    """Move a job in one of `from_statuses` to `to_status`."""
    names = {"#status": "status", **{f"#{k}": k for k in changes}}
    froms = {f":from{i}": status for i, status in enumerate(from_statuses)}
    values = {":to": to_status, **froms, **{f":{k}": to_dynamo(v) for k, v in changes.items()}}
    update = "SET #status = :to" + "".join(f", #{k} = :{k}" for k in changes)
    if remove:
        names.update({f"#{k}": k for k in remove})
        update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    condition = f"attribute_exists(id) AND #status IN ({', '.join(froms)})"
    return _update(job_id, update, condition, names, values)


def create_job(job: JobRecord) -> JobRecord:
    jobs_table().put_item(Item=job.to_item(), ConditionExpression="attribute_not_exists(id)")
    return job


def get_job_of(job_id: str, owner: str) -> JobRecord | None:
    """The job if `owner` owns it; another user's job is as absent as a missing one."""
    job = get_job(job_id)
    return job if job and job.owner == owner else None


def start_job(job_id: str, endpoint_name: str, deadline: int, warnings: list[FieldMessage]) -> JobRecord | None:
    """created -> in_progress with a new deadline, its place in the endpoint's queue and its payload's warnings."""
    return _transition(
        job_id, "in_progress",
        {"started_at": now_iso(), "pending": PENDING, "queue": endpoint_name, "deadline": deadline,
         "warnings": [w.model_dump() for w in warnings]},
        from_statuses=("created",),
    )


def record_invocation(job_id: str, output_location: str | None, failure_location: str | None) -> JobRecord | None:
    """Keep where SageMaker will write the job's response (for the sweeper and for deletion); the job as
    written, None when there was nothing to keep or the job is gone."""
    answered = {"output_location": output_location, "failure_location": failure_location}
    locations = {k: v for k, v in answered.items() if v}
    if not locations:
        return None
    return _update(
        job_id,
        "SET " + ", ".join(f"#{k} = :{k}" for k in locations),
        "attribute_exists(id)",
        {f"#{k}": k for k in locations},
        {f":{k}": v for k, v in locations.items()},
    )


def list_jobs_of(owner: str, limit: int, start_key: StartKey | None, **equal: str | None) -> Page[JobRecord]:
    """An owner's jobs newest first (index `by_owner`), optionally only those whose attributes equal `equal`."""
    from boto3.dynamodb.conditions import Attr, Key

    query: dict[str, Any] = {"IndexName": "by_owner", "KeyConditionExpression": Key("owner").eq(owner),
                             "ScanIndexForward": False}
    conditions: list[Any] = [Attr(name).eq(value) for name, value in equal.items() if value]
    if conditions:
        query["FilterExpression"] = functools.reduce(lambda a, b: a & b, conditions)
    return query_page(jobs_table(), JobRecord, limit, start_key, **query)


def delete_job(job_id: str) -> None:
    jobs_table().delete_item(Key={"id": job_id})


def mark_succeeded(job_id: str, manifest: InferenceManifest) -> JobRecord | None:
    """in_progress -> succeeded with the manifest's images, infotexts, parameters, seeds and timings."""
    result = manifest.model_dump(include=MANIFEST_FIELDS)
    return _transition(job_id, "succeeded", {**result, "completed_at": now_iso()}, remove=ENDED_REMOVES)


def mark_failed(job_id: str, error: str) -> JobRecord | None:
    """created | in_progress -> failed with a readable reason."""
    return _transition(
        job_id, "failed", {"error": error, "completed_at": now_iso()}, remove=ENDED_REMOVES,
        from_statuses=("created", "in_progress"),
    )


def mark_cancelled(job_id: str) -> JobRecord | None:
    """created | in_progress -> cancelled."""
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


def _query_up_to(limit: int, **query: Any) -> list[Item]:
    """Up to `limit` items of one Query on an index, page after page."""
    items: list[Item] = []
    start: Item | None = None  # the index's LastEvaluatedKey
    while len(items) < limit:
        page = jobs_table().query(**query, Limit=limit - len(items), **({"ExclusiveStartKey": start} if start else {}))
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return items


def overdue_jobs(now: int, limit: int) -> list[JobRecord]:
    """Up to `limit` unfinished jobs whose deadline is at or before `now` (epoch s), earliest deadline first.

    A Query on the sparse `by_deadline` index (only created and in_progress jobs carry `pending`), never a
    Scan; the index is eventually consistent, so callers re-check each job with a consistent read before acting.
    """
    from boto3.dynamodb.conditions import Key

    condition = Key("pending").eq(PENDING) & Key("deadline").lte(now)
    return [JobRecord.from_item(item) for item in
            _query_up_to(limit, IndexName="by_deadline", KeyConditionExpression=condition)]


def unannounced_jobs(ended_by: str, limit: int) -> list[str]:
    """The ids of up to `limit` ended jobs whose webhook is not yet queued and that ended at or before `ended_by`
    (an ISO time as `now_iso` writes it), oldest end first.

    A Query on the sparse `by_announce` index (`announce` and `completed_at`: only ended jobs still marked),
    never a Scan; eventually consistent, so callers re-read each job before acting.
    """
    from boto3.dynamodb.conditions import Key

    condition = Key("announce").eq(ANNOUNCE) & Key("completed_at").lte(ended_by)
    items = _query_up_to(limit, IndexName="by_announce", KeyConditionExpression=condition, ProjectionExpression="id")
    return [str(item["id"]) for item in items]


def clear_announce(job_id: str) -> JobRecord | None:
    """Drop the job's `announce` mark (its webhook is queued), taking it out of `by_announce`; None when the job
    is gone."""
    return conditional_update(
        jobs_table(),
        JobRecord,
        Key={"id": job_id},
        UpdateExpression="REMOVE #announce",
        ConditionExpression="attribute_exists(id)",
        ExpressionAttributeNames={"#announce": "announce"},
    )
