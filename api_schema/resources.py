"""Request and response bodies of the REST API (v1), as `../shared/DESIGN.md` section 3 lists them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api_schema.jobs import ImageKind, JobPhase
from api_schema.model_types import ModelType

Role = Literal["admin", "user"]
ModelStatus = Literal["uploading", "ready"]
EndpointStatus = Literal["Creating", "InService", "Updating", "Failed", "Deleting"]
JobStatus = Literal["created", "in_progress", "succeeded", "failed", "cancelled"]
# The statuses a job ends in: no transition leaves them, and reaching one sends the job's webhook.
ENDED_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ENDPOINT_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,50}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldMessage(BaseModel):
    """A problem with one request field: an error of a 400, or a warning of a job."""

    field: str | None = Field(description="dotted path of the field, e.g. payload.alwayson_scripts.controlnet.args.0")
    message: str


# --- users -------------------------------------------------------------------------------------
class CreateUserRequest(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    role: Role = "user"


class User(BaseModel):
    name: str
    role: Role
    created_at: str


class CreateUserResponse(BaseModel):
    user: User
    api_key: str = Field(description="shown once; only its SHA-256 hash is stored")


class UserResponse(BaseModel):
    user: User


class UserList(BaseModel):
    users: list[User]
    next_token: str | None = None


class WebhookSecretResponse(BaseModel):
    secret: str = Field(description="the Standard Webhooks signing secret (`whsec_` + base64), shown once; a new "
                                    "one replaces it for every later delivery")


# --- models ------------------------------------------------------------------------------------
class CreateModelRequest(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    type: ModelType
    filename: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,199}$")
    size_bytes: int = Field(gt=0, le=50 * 1024**3)


class Model(BaseModel):
    id: str
    name: str
    type: ModelType
    filename: str
    size_bytes: int
    status: Literal["uploading", "ready"]
    owner: str
    created_at: str


class UploadPart(BaseModel):
    part_number: int
    url: str


class Upload(BaseModel):
    upload_id: str
    part_size: int
    parts: list[UploadPart]


class CreateModelResponse(BaseModel):
    model: Model
    upload: Upload


class CompletedPart(Strict):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1)


class CompleteModelRequest(Strict):
    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)


class ModelResponse(BaseModel):
    model: Model


class ModelList(BaseModel):
    models: list[Model]
    next_token: str | None = None


# --- endpoints ---------------------------------------------------------------------------------
class CreateEndpointRequest(Strict):
    name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    instance_type: str = Field("ml.g5.xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    min_instances: int = Field(0, ge=0, le=10)
    max_instances: int = Field(1, ge=1, le=10)


class Endpoint(BaseModel):
    name: str
    instance_type: str
    min_instances: int
    max_instances: int
    status: EndpointStatus
    failure_reason: str | None = None
    created_at: str
    updated_at: str


class EndpointResponse(BaseModel):
    endpoint: Endpoint


class EndpointList(BaseModel):
    endpoints: list[Endpoint]
    next_token: str | None = None


# --- inferences --------------------------------------------------------------------------------
class CreateInferenceRequest(Strict):
    endpoint_name: str = Field(pattern=ENDPOINT_NAME_PATTERN)
    task: Literal["txt2img", "img2img"]
    payload: dict[str, Any] | None = Field(None, description="the AUTOMATIC1111 txt2img / img2img body")
    payload_upload: bool = Field(False, description="upload the payload to a presigned URL, then /start")
    webhook_url: str | None = Field(None, max_length=2048, description="https URL of a public host: when the job "
                                    "ends, its JSON (as GET /inferences/{id} answers) is POSTed there, signed as "
                                    "Standard Webhooks says with the caller's webhook secret")


class Image(BaseModel):
    url: str
    key: str
    kind: ImageKind = Field("image", description="image: a generated image; detected_map: a ControlNet unit's "
                                                 "detected map (they follow the generated images)")


class Progress(BaseModel):
    """How far an in_progress job is: waiting in its endpoint's queue, or running (step of steps)."""

    state: Literal["queued", "running"]
    step: int = Field(0, ge=0, description="denoising steps done, over every batch and pass of the job")
    steps: int | None = Field(None, ge=0, description="denoising steps of the whole job (None while queued)")
    fraction: float = Field(0.0, ge=0, le=1, description="step / steps")
    phase: JobPhase | None = Field(None, description="the pass running: sampling, or the hires fix's second pass")
    eta_s: float | None = Field(None, ge=0, description="seconds left, from the measured step time")
    queue_position: int | None = Field(None, ge=0, description="queued: this endpoint's jobs submitted earlier "
                                                               "and not yet running")
    preview_url: str | None = Field(None, description="running: a small JPEG of the denoising so far, when the "
                                                      "endpoint makes previews (SDCLOUD_PREVIEW_INTERVAL_S)")


class Inference(BaseModel):
    id: str
    task: Literal["txt2img", "img2img"]
    status: JobStatus
    endpoint_name: str
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    images: list[Image] = Field(default_factory=list)
    info: str | None = None
    parameters: dict[str, Any] | None = None
    seeds: list[int] | None = None
    error: str | None = None
    webhook_url: str | None = None
    warnings: list[FieldMessage] = Field(
        default_factory=list, description="payload fields accepted but not used (defaults, or values the WebUI "
        "ignores too, unknown keys, other extensions' alwayson_scripts)")
    progress: Progress | None = Field(None, description="while in_progress: queued or running, step of steps, ETA")


class InferenceResponse(BaseModel):
    inference: Inference
    payload_upload_url: str | None = None


class InferenceList(BaseModel):
    inferences: list[Inference]
    next_token: str | None = None


class Ping(BaseModel):
    status: Literal["ok"]
    version: str


class ErrorBody(BaseModel):
    message: str = Field(description="the first problem")
    field: str | None = Field(None, description="the field of the first problem")
    errors: list[FieldMessage] = Field(default_factory=list, description="every problem found, in order")
