"""Inference jobs: validate the WebUI payload, resolve its models, hand the job to the async endpoint.

A job is written before the endpoint is invoked and always ends succeeded or failed: a refused invocation
fails it at once; a Lambda that dies in between leaves it `pending` with a `deadline`, and the sweeper
fails it then. A `payload_upload` job waits as `created` (also with a deadline) until its payload is
uploaded to the presigned URL and `start` is called.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import ValidationError

from api_schema import s3_layout
from api_schema.images import image_problem
from api_schema.jobs import InferenceInput
from api_schema.payload import error_message, field_path, parse_payload
from api_schema.resources import CreateInferenceRequest, Image, Inference, InferenceList, InferenceResponse
from lambdas.data import jobs, sagemaker, storage
from lambdas.data.pages import decode_token, encode_token
from lambdas.data.results_store import async_failure_location, async_output_location
from lambdas.errors import Conflict, FieldError, InvalidInput, NotFound
from lambdas.logic.caller import Caller
from lambdas.logic.endpoints import require_in_service
from lambdas.logic.json_text import check_json_depth
from lambdas.logic.model_resolution import resolve_models
from lambdas.logic.progress import QueueView
from lambdas.settings import settings

MAX_UPLOADED_PAYLOAD_BYTES = 64 * 1024 * 1024
IDEMPOTENCY_SECONDS = 24 * 3600


def to_inference(job: dict[str, Any]) -> Inference:
    keys = job.get("images", [])
    kinds = job.get("image_kinds") or ["image"] * len(keys)
    images = [Image(url=storage.presign_get(key), key=key, kind=kind) for key, kind in zip(keys, kinds, strict=True)]
    fields = {name: job.get(name) for name in Inference.model_fields if name != "images" and name in job}
    return Inference.model_validate({**fields, "images": images})


def _payload_error(path: str, message: str) -> FieldError:
    field = f"payload.{path}" if path else "payload"
    return FieldError(field, f"{field}: {message}")


def _validated_input(job_id: str, task: str, payload: Any) -> tuple[InferenceInput, list[dict[str, str]]]:
    """The container's input and the job's warnings; InvalidInput names every problem of the payload."""
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object (the WebUI txt2img / img2img body)", field="payload")
    try:
        parsed = parse_payload(task, payload)
    except ValidationError as exc:
        raise InvalidInput.of([_payload_error(field_path(e["loc"]), error_message(e)) for e in exc.errors()]) from exc
    errors = [_payload_error(path, f"the image {problem}") for path, image in parsed.images()
              if (problem := image_problem(image))]
    try:
        models = resolve_models(parsed)
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput.of(errors)
    warnings = [{"field": f"payload.{w.field}", "message": w.message} for w in parsed.warnings]
    return InferenceInput(job_id=job_id, task=task, payload=payload, models=models, output_bucket=storage.bucket(),
                          output_prefix=s3_layout.output_prefix(job_id)), warnings


def _deadline(seconds: int) -> int:
    return int(time.time()) + seconds + settings().sweep_margin_seconds


def _invoke(job: dict[str, Any]) -> dict[str, Any]:
    """Hand an in_progress job to its endpoint; a refusal fails the job with SageMaker's reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        endpoint = sagemaker.sagemaker_name(job["endpoint_name"])
        answer = sagemaker.invoke_async(endpoint, job["input_key"], job["id"])
    except (ClientError, BotoCoreError) as exc:
        reason = exc.response["Error"]["Message"] if isinstance(exc, ClientError) else str(exc)
        jobs.mark_failed(job["id"], f"the endpoint did not accept the job: {reason}")
    else:
        jobs.record_invocation(job["id"], answer.get("OutputLocation"), answer.get("FailureLocation"))
    return jobs.get_job(job["id"]) or job


def submit(caller: Caller, request: CreateInferenceRequest) -> InferenceResponse:
    require_in_service(request.endpoint_name)
    job_id = uuid.uuid4().hex
    job: dict[str, Any] = {
        "id": job_id,
        "owner": caller.name,
        "task": request.task,
        "endpoint_name": request.endpoint_name,
        "created_at": jobs.now_iso(),
        "input_key": s3_layout.input_key(job_id),
        "pending": jobs.PENDING,
    }
    if request.payload_upload:
        if request.payload is not None:
            raise InvalidInput("send either payload or payload_upload: true, not both", field="payload")
        job.update(status="created", payload_key=s3_layout.payload_key(job_id),
                   deadline=_deadline(settings().presign_expiry_seconds))
        jobs.create_job(job)
        upload_url = storage.presign_put(job["payload_key"])
        return InferenceResponse(inference=to_inference(job), payload_upload_url=upload_url)
    if request.payload is None:
        raise InvalidInput("payload is required (or set payload_upload: true)", field="payload")
    job_input, warnings = _validated_input(job_id, request.task, request.payload)
    storage.put_json(job["input_key"], job_input.model_dump(mode="json"))
    deadline = _deadline(settings().invocation_window_seconds)
    job.update(status="in_progress", started_at=job["created_at"], queue=request.endpoint_name, deadline=deadline,
               warnings=warnings)
    jobs.create_job(job)
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


def owned_job(caller: Caller, job_id: str) -> dict[str, Any]:
    job = jobs.get_job_of(job_id, caller.name)
    if job is None:
        raise NotFound(f"inference '{job_id}' not found", field="id")
    return job


def start(caller: Caller, job_id: str) -> InferenceResponse:
    """Validate the uploaded payload of a created job, then run it as `submit` does."""
    job = owned_job(caller, job_id)
    if job["status"] != "created":
        raise Conflict(f"inference '{job_id}' is {job['status']}, not created", field="id")
    size = storage.object_size(job["payload_key"])
    if size is None:
        raise InvalidInput("no payload was uploaded: PUT it to payload_upload_url first", field="payload")
    if size > MAX_UPLOADED_PAYLOAD_BYTES:
        raise InvalidInput(f"the payload is larger than {MAX_UPLOADED_PAYLOAD_BYTES} bytes", field="payload")
    try:
        text = storage.get_bytes(job["payload_key"]).decode("utf-8")
        check_json_depth(text, field="payload")
        payload = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("the uploaded payload is not valid UTF-8 JSON", field="payload") from exc
    require_in_service(job["endpoint_name"])
    job_input, warnings = _validated_input(job_id, job["task"], payload)
    storage.put_json(job["input_key"], job_input.model_dump(mode="json"))
    if not jobs.start_job(job_id, job["endpoint_name"], _deadline(settings().invocation_window_seconds), warnings):
        ended = jobs.get_job(job_id) or job
        raise Conflict(f"inference '{job_id}' is {ended['status']}, not created", field="id")
    storage.delete_keys([job["payload_key"]])
    return InferenceResponse(inference=to_inference(_invoke(jobs.get_job(job_id) or job)))


def _with_progress(job: dict[str, Any], view: QueueView) -> Inference:
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
    if job["status"] == "in_progress":
        raise Conflict(f"inference '{job_id}' is still in progress; delete it once it has ended", field="id")
    keys = [job["input_key"], *([job["payload_key"]] if job.get("payload_key") else [])]
    keys += storage.keys_under(s3_layout.output_prefix(job_id))
    keys += [k for k in (storage.key_of(job.get(loc) or "") for loc in ("output_location", "failure_location")) if k]
    keys += [where(storage.bucket(), job_id).key for where in (async_output_location, async_failure_location)]
    storage.delete_keys(sorted(set(keys)))
    jobs.delete_job(job_id)
