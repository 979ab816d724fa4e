from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from api_schema.resources import CreateInferenceRequest, InferenceList, InferenceResponse, JobStatus
from lambdas.api.caller import current_caller
from lambdas.api.responses import no_content, responses
from lambdas.logic import cancel, inferences

router = Router()
TAGS = ["inferences"]


@router.post(
    "/inferences",
    summary="Submit a txt2img / img2img job to an InService endpoint",
    description="202 with the job (status in_progress, or failed when the endpoint refused it); with "
    "`payload_upload: true`, 201 with `payload_upload_url` (PUT the WebUI body there, then POST /start). "
    "A retry with the same `Idempotency-Key` returns the first answer.",
    tags=TAGS,
    status_code=202,
    responses={
        **responses(202, "The job, in_progress (or failed when the endpoint refused it)", 409),
        201: {"description": "The job, created, and its payload_upload_url"},
    },
)
def create_inference(
    body: CreateInferenceRequest,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)] = None,
) -> Response[InferenceResponse]:
    answer = inferences.submit_once(current_caller(router), body, idempotency_key, router.lambda_context)
    return Response(
        status_code=201 if answer.payload_upload_url else 202,
        content_type=content_types.APPLICATION_JSON,
        body=answer,
    )


@router.post("/inferences/<job_id>/start", summary="Start a job whose payload was uploaded", tags=TAGS,
             status_code=202, responses=responses(202, "The job, in_progress", 404, 409))
def start_inference(job_id: str) -> InferenceResponse:
    return inferences.start(current_caller(router), job_id)


@router.get("/inferences", summary="The caller's jobs, newest first", tags=TAGS,
            responses=responses(200, "A page of jobs"))
def list_inferences(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query()] = None,
    status: Annotated[JobStatus | None, Query()] = None,
    task: Annotated[Literal["txt2img", "img2img"] | None, Query()] = None,
) -> InferenceList:
    return inferences.list_of(current_caller(router), limit, next_token, status, task)


@router.get("/inferences/<job_id>", summary="A job with presigned image URLs, infotext and parameters", tags=TAGS,
            responses=responses(200, "The job", 404))
def get_inference(job_id: str) -> InferenceResponse:
    return InferenceResponse(inference=inferences.get(current_caller(router), job_id))


@router.post("/inferences/<job_id>/cancel", summary="Cancel a job that has not ended", tags=TAGS, status_code=202,
             description="A created or in_progress job ends `cancelled`: at once while it waits in the endpoint's "
             "queue (the container then skips it), at its next denoising step while it runs. A job that has "
             "already ended: 409 naming its status.",
             responses=responses(202, "The job, cancelled", 404, 409))
def cancel_inference(job_id: str) -> InferenceResponse:
    return cancel.cancel(current_caller(router), job_id)


@router.delete("/inferences/<job_id>", summary="Delete a job and its S3 objects", tags=TAGS, status_code=204,
               responses=responses(204, "Deleted", 404, 409))
def delete_inference(job_id: str) -> Response[None]:
    inferences.delete(current_caller(router), job_id)
    return no_content()
