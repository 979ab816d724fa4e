"""What passes between the control plane and the inference container.

The control plane writes an `InferenceInput` to `inputs/{job_id}.json` and invokes the async endpoint
with it; the container answers with an `InferenceManifest` (SageMaker stores it at the output
location) or, on error, with an `InferenceFailure` (stored at the failure location).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api_schema.model_types import ModelType

ImageKind = Literal["image", "detected_map"]
JobPhase = Literal["sampling", "hires"]
CANCELLED = "Cancelled"  # the InferenceFailure type of a job the container stopped because it was cancelled


class ModelRef(BaseModel):
    """A registered, ready model file in S3."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    type: ModelType
    filename: str
    bucket: str
    key: str
    size_bytes: int = Field(ge=0)


class ResolvedModels(BaseModel):
    """Every model a job needs, keyed by the name the payload uses for it."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: ModelRef
    vae: ModelRef | None = None
    loras: dict[str, ModelRef] = Field(default_factory=dict)
    embeddings: dict[str, ModelRef] = Field(default_factory=dict)
    controlnets: dict[str, ModelRef] = Field(default_factory=dict)
    annotators: dict[str, ModelRef] = Field(default_factory=dict)
    hr_checkpoint: ModelRef | None = Field(None, description="the hires fix pass's checkpoint, when it has its own")
    upscaler: ModelRef | None = Field(None, description="the hires fix's upscaler model, when it uses one")
    refiner: ModelRef | None = None


class InferenceInput(BaseModel):
    """The body of `inputs/{job_id}.json`, the request the async endpoint receives."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    task: Literal["txt2img", "img2img"]
    payload: dict[str, Any] = Field(description="the WebUI body, already validated by the control plane")
    models: ResolvedModels
    output_bucket: str
    output_prefix: str = Field(description="e.g. outputs/{job_id}/; images are written as image_N.png below it")


class Timings(BaseModel):
    load_s: float = 0.0
    inference_s: float = 0.0
    upload_s: float = 0.0
    total_s: float = 0.0


class InferenceManifest(BaseModel):
    """The container's success response: small, the images themselves are separate S3 objects."""

    job_id: str
    images: list[str] = Field(description="S3 keys in output_bucket: the generated images in generation order, "
                                          "then the ControlNet detected maps")
    image_kinds: list[ImageKind] = Field(default_factory=list, description="one per image; empty: all 'image'")
    info: str = Field(description="WebUI infotext of the first image")
    infotexts: list[str]
    parameters: dict[str, Any]
    seeds: list[int]
    timings: Timings


class InferenceFailure(BaseModel):
    """The container's error response body (4xx: a bad job; 5xx: a fault)."""

    job_id: str | None = None
    status_code: int
    type: str = Field(description="e.g. InvalidJob, ModelLoadError, InternalError")
    message: str = Field(description="what a user can act on")
    field: str | None = Field(None, description="the payload field at fault, when there is one")


class JobProgress(BaseModel):
    """What the container writes to `s3_layout.progress_key(job_id)` while it runs a job (about once a second)."""

    job_id: str
    step: int = Field(ge=0, description="denoising steps done, over every batch and pass")
    steps: int = Field(ge=0, description="denoising steps of the whole job (an estimate until each pass starts)")
    phase: JobPhase
    eta_s: float | None = Field(None, ge=0, description="seconds left, from the measured step time")
    written_at: float = Field(description="when, in epoch seconds: a reader takes the time since off eta_s")
    preview_step: int | None = Field(None, description="the step the preview at s3_layout.preview_key shows; "
                                                       "None: no preview (yet, or the container makes none)")
