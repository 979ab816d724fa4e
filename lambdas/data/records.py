"""What the tables hold, one record type per table item (tables and indexes: `lambdas.data.tables`)."""

from __future__ import annotations

from typing import Any, Literal

from api_schema.jobs import ImageKind, Timings
from api_schema.model_types import ModelType
from api_schema.resources import EndpointStatus, FieldMessage, JobStatus, ModelStatus, Role
from lambdas.data.dynamo import Record


class UserRecord(Record):
    name: str
    role: Role
    key_hash: str  # SHA-256 hex of the API key (index `by_key_hash`); the key itself is never stored
    created_at: str


class ModelRecord(Record):
    id: str  # uuid4 hex; the name is unique through a guard item (see `lambdas.data.models`)
    name: str
    type: ModelType
    filename: str
    size_bytes: int
    status: ModelStatus
    owner: str
    created_at: str
    key: str  # the S3 key of the file
    part_size: int
    upload_id: str | None = None  # while uploading


class EndpointRecord(Record):
    name: str  # the SageMaker endpoint name, `{resource_prefix}-{api name}`
    instance_type: str
    min_instances: int
    max_instances: int | None = None  # read by the endpoint-events handler's autoscaling; none: not registered
    status: EndpointStatus
    failure_reason: str | None = None
    created_at: str
    updated_at: str  # when the status was set: SageMaker's event time, or the control plane's write
    model_name: str | None = None  # the SageMaker model and endpoint config behind it
    config_name: str | None = None
    autoscaling_registered: bool | None = None


class JobRecord(Record):
    """An inference job. Its status only moves forward: created -> in_progress -> succeeded | failed | cancelled
    (and created -> failed | cancelled for a payload that never came or a job cancelled before it started), so a
    duplicate or late notification changes nothing."""

    id: str  # uuid4 hex
    owner: str  # index `by_owner` (owner, created_at) lists a user's jobs newest first
    task: Literal["txt2img", "img2img"]
    endpoint_name: str  # the API name of the endpoint it runs on
    status: JobStatus
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    input_key: str  # inputs/{id}.json
    payload_key: str | None = None  # where a `payload_upload` job's client uploads its payload
    output_location: str | None = None  # what InvokeEndpointAsync answered (s3:// URIs)
    failure_location: str | None = None
    pending: str | None = None  # "1" while created or in_progress (sparse index `by_deadline`)
    # The endpoint_name while in_progress (sparse index `by_queue`, sorted by started_at: the jobs waiting for or
    # running on an endpoint, in the order they were handed to it).
    queue: str | None = None
    deadline: int  # epoch s after which the sweeper settles the job (a created one: the end of its upload window)
    warnings: list[FieldMessage] | None = None  # payload fields accepted but not used
    # From the container's manifest once succeeded; `images` are S3 keys: the generated images, then any
    # ControlNet detected maps, `image_kinds` saying which (absent or empty: all "image").
    images: list[str] | None = None
    image_kinds: list[ImageKind] | None = None
    info: str | None = None
    infotexts: list[str] | None = None
    parameters: dict[str, Any] | None = None
    seeds: list[int] | None = None
    timings: Timings | None = None
    error: str | None = None  # why it failed
    webhook_url: str | None = None  # where its webhook goes when it ends (lambdas.logic.webhooks)
    # "1" from creation on a job with a webhook_url until its end is queued on the webhook queue (the outbox: with
    # `completed_at`, sparse index `by_announce` holds the ended jobs whose webhook is not yet queued).
    announce: str | None = None
