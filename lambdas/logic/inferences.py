"""Inference jobs: validate the WebUI payload, resolve its models, hand the job to the async endpoint.

A job is written before the endpoint is invoked and always ends succeeded, failed or cancelled
(`lambdas.logic.cancel`): a refused invocation fails it at once; a Lambda that dies in between leaves it
`pending` with a `deadline`, and the sweeper fails it then. A `payload_upload` job waits as `created` (also
with a deadline) until its payload is uploaded to the presigned URL and `start` is called.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import ValidationError

from api_schema import s3_layout
from api_schema.jobs import InferenceInput
from api_schema.payload import parse_payload
from api_schema.resources import (
    CreateInferenceRequest,
    FieldMessage,
    Image,
    Inference,
    InferenceList,
    InferenceResponse,
)
from api_schema.validation_errors import problems
from lambdas.data import jobs, sagemaker, storage
from lambdas.data.dynamo import now_iso
from lambdas.data.pages import decode_token, encode_token
from lambdas.data.records import JobRecord
from lambdas.data.results_store import async_failure_location, async_output_location
from lambdas.errors import Conflict, FieldError, InvalidInput, NotFound
from lambdas.logic.caller import Caller
from lambdas.logic.endpoints import require_in_service
from lambdas.logic.json_text import check_json_depth
from lambdas.logic.model_resolution import resolve_models
from lambdas.logic.progress import QueueView
from lambdas.logic.webhooks import accept_webhook_url, announce_end_or_defer
from lambdas.settings import settings

MAX_UPLOADED_PAYLOAD_BYTES = 64 * 1024 * 1024
IDEMPOTENCY_SECONDS = 24 * 3600


def to_inference(job: JobRecord) -> Inference:
    keys = job.images or []
    kinds = job.image_kinds or ["image"] * len(keys)
    images = [Image(url=storage.presign_get(key), key=key, kind=kind) for key, kind in zip(keys, kinds, strict=True)]
    return Inference(id=job.id, task=job.task, status=job.status, endpoint_name=job.endpoint_name,
                     created_at=job.created_at, started_at=job.started_at, completed_at=job.completed_at,
                     images=images, info=job.info, parameters=job.parameters, seeds=job.seeds, error=job.error,
                     warnings=job.warnings or [], webhook_url=job.webhook_url)


def _payload_error(path: str, message: str) -> FieldError:
    field = f"payload.{path}" if path else "payload"
    return FieldError(field, f"{field}: {message}")


def _validated_input(job_id: str, task: str, payload: Any) -> tuple[InferenceInput, list[FieldMessage]]:
    """The container's input and the job's warnings; InvalidInput names every problem of the payload."""
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object (the WebUI txt2img / img2img body)", field="payload")
    try:
        parsed = parse_payload(task, payload)
    except ValidationError as exc:
        raise InvalidInput.of([_payload_error(p.field, p.message) for p in problems(exc)]) from exc
    models = resolve_models(parsed)
    warnings = [FieldMessage(field=f"payload.{w.field}", message=w.message) for w in parsed.warnings]
    return InferenceInput(job_id=job_id, task=task, payload=payload, models=models, output_bucket=storage.bucket(),
                          output_prefix=s3_layout.output_prefix(job_id)), warnings


def _deadline(seconds: int) -> int:
    return int(time.time()) + seconds + settings().sweep_margin_seconds


def _invoke(job: JobRecord) -> JobRecord:
    """Hand an in_progress job to its endpoint; a refusal fails the job with SageMaker's reason. The job as
    last written."""
    try:
        invocation = sagemaker.invoke_async(sagemaker.sagemaker_name(job.endpoint_name), job.input_key, job.id)
    except Conflict as refused:
        failed = jobs.mark_failed(job.id, refused.message)
        if failed:
            announce_end_or_defer(job.id)
        return failed or job
    return jobs.record_invocation(job.id, invocation.output_location, invocation.failure_location) or job


def submit(caller: Caller, request: CreateInferenceRequest) -> InferenceResponse:
    require_in_service(request.endpoint_name)
    job_id = uuid.uuid4().hex
    created_at = now_iso()
    webhook_url = accept_webhook_url(caller, request.webhook_url) if request.webhook_url else None
    announce = jobs.ANNOUNCE if webhook_url else None  # its end goes on the webhook queue (lambdas.logic.webhooks)
    if request.payload_upload:
        if request.payload is not None:
            raise InvalidInput("send either payload or payload_upload: true, not both", field="payload")
        job = jobs.create_job(JobRecord(
            id=job_id, owner=caller.name, task=request.task, endpoint_name=request.endpoint_name, status="created",
            created_at=created_at, input_key=s3_layout.input_key(job_id), payload_key=s3_layout.payload_key(job_id),
            pending=jobs.PENDING, deadline=_deadline(settings().presign_expiry_seconds), webhook_url=webhook_url,
            announce=announce,
        ))
        upload_url = storage.presign_put(s3_layout.payload_key(job_id))
        return InferenceResponse(inference=to_inference(job), payload_upload_url=upload_url)
    if request.payload is None:
        raise InvalidInput("payload is required (or set payload_upload: true)", field="payload")
    job_input, warnings = _validated_input(job_id, request.task, request.payload)
    storage.put_json(s3_layout.input_key(job_id), job_input.model_dump(mode="json"))
    job = jobs.create_job(JobRecord(
        id=job_id, owner=caller.name, task=request.task, endpoint_name=request.endpoint_name, status="in_progress",
        created_at=created_at, started_at=created_at, input_key=s3_layout.input_key(job_id), pending=jobs.PENDING,
        queue=request.endpoint_name, deadline=_deadline(settings().invocation_window_seconds), warnings=warnings,
        webhook_url=webhook_url, announce=announce,
    ))
    return InferenceResponse(inference=to_inference(_invoke(job)))


def submit_once(caller: Caller, request: CreateInferenceRequest, idempotency_key: str | None,
                lambda_context: Any = None) -> InferenceResponse:
    """`submit`, except that a retry with the same Idempotency-Key returns the first job's answer."""
    if not idempotency_key:
        return submit(caller, request)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from lambdas.data.idempotency import persistence_layer

    config = IdempotencyConfig(event_key_jmespath="[user, key]", payload_validation_jmespath="body",
                               expires_after_seconds=IDEMPOTENCY_SECONDS)
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(data_keyword_argument="call", persistence_store=persistence_layer(), config=config,
                         key_prefix="POST /inferences")
    def once(call: dict[str, Any]) -> dict[str, Any]:
        return submit(caller, request).model_dump(mode="json")

    call = {"user": caller.name, "key": idempotency_key, "body": request.model_dump(mode="json")}
    try:
        return InferenceResponse.model_validate(once(call=call))
    except IdempotencyValidationError as exc:
        raise Conflict("this Idempotency-Key was used for a different request", field="Idempotency-Key") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("a request with this Idempotency-Key is still running", field="Idempotency-Key") from exc


def owned_job(caller: Caller, job_id: str) -> JobRecord:
    job = jobs.get_job_of(job_id, caller.name)
    if job is None:
        raise NotFound(f"inference '{job_id}' not found", field="id")
    return job


def start(caller: Caller, job_id: str) -> InferenceResponse:
    """Validate the uploaded payload of a created job, then run it as `submit` does."""
    job = owned_job(caller, job_id)
    if job.status != "created" or job.payload_key is None:
        raise Conflict(f"inference '{job_id}' is {job.status}, not created", field="id")
    size = storage.object_size(job.payload_key)
    if size is None:
        raise InvalidInput("no payload was uploaded: PUT it to payload_upload_url first", field="payload")
    if size > MAX_UPLOADED_PAYLOAD_BYTES:
        raise InvalidInput(f"the payload is larger than {MAX_UPLOADED_PAYLOAD_BYTES} bytes", field="payload")
    try:
        text = storage.get_bytes(job.payload_key).decode("utf-8")
        check_json_depth(text, field="payload")
        payload = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("the uploaded payload is not valid UTF-8 JSON", field="payload") from exc
    require_in_service(job.endpoint_name)
    job_input, warnings = _validated_input(job_id, job.task, payload)
    storage.put_json(job.input_key, job_input.model_dump(mode="json"))
    started = jobs.start_job(job_id, job.endpoint_name, _deadline(settings().invocation_window_seconds), warnings)
    if started is None:
        current = jobs.get_job(job_id) or job
        raise Conflict(f"inference '{job_id}' is {current.status}, not created", field="id")
    storage.delete_keys([job.payload_key])
    return InferenceResponse(inference=to_inference(_invoke(started)))


def _with_progress(job: JobRecord, view: QueueView) -> Inference:
    return to_inference(job).model_copy(update={"progress": view.progress(job)})


def get(caller: Caller, job_id: str) -> Inference:
    return _with_progress(owned_job(caller, job_id), QueueView())


def list_of(caller: Caller, limit: int, next_token: str | None, status: str | None, task: str | None) -> InferenceList:
    scope = f"inferences:{caller.name}:{status or '*'}:{task or '*'}"
    start_key = decode_token(scope, next_token, jobs.PAGE_KEY)
    if start_key and start_key["owner"] != caller.name:
        raise InvalidInput("next_token does not belong to this listing", field="next_token")
    page = jobs.list_jobs_of(caller.name, limit, start_key, status=status, task=task)
    view = QueueView()
    listed = [_with_progress(j, view) for j in page.items]
    return InferenceList(inferences=listed, next_token=encode_token(scope, page.next_key))


def delete(caller: Caller, job_id: str) -> None:
    job = owned_job(caller, job_id)
    if job.status == "in_progress":
        raise Conflict(f"inference '{job_id}' is still in progress; delete it once it has ended", field="id")
    keys = [job.input_key, *([job.payload_key] if job.payload_key else [])]
    keys += storage.keys_under(s3_layout.output_prefix(job_id))
    keys += [k for k in (storage.key_of(loc or "") for loc in (job.output_location, job.failure_location)) if k]
    keys += [where(storage.bucket(), job_id).key for where in (async_output_location, async_failure_location)]
    storage.delete_keys(sorted(set(keys)))
    jobs.delete_job(job_id)
