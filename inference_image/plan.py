"""Plan, a job's first step: what it needs, read from the job before any model is downloaded or loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from api_schema.jobs import InferenceInput, ModelRef, ResolvedModels
from api_schema.payload import GenerationPayload, Img2ImgPayload, parse_payload
from api_schema.prompt_tags import lora_tags, model_name_of
from api_schema.webui_fields import unit_field
from inference_image.errors import InvalidJob, field_and_message

if TYPE_CHECKING:
    from PIL import Image

    from inference_image.hires import HiresPlan
    from inference_image.inputs import Inputs


@dataclass(frozen=True)
class JobRequest:
    """The job's payload and the models it names, checked against the job's resolved models. Reading it
    needs no library: a new instance knows what to download while torch and diffusers still load."""

    job: InferenceInput
    payload: GenerationPayload
    lora_weights: dict[str, float]  # by LoRA name, summed over the prompt's tags
    controlnets: list[ModelRef]  # one per ControlNet unit
    embeddings: dict[str, ModelRef]  # the textual inversions the prompts mention

    @property
    def models(self) -> ResolvedModels:
        return self.job.models

    def early_downloads(self) -> list[ModelRef]:
        """The model files a new instance downloads while its libraries load."""
        m = self.models
        refs = (m.checkpoint, m.vae, m.hr_checkpoint, m.refiner, m.upscaler, *self.controlnets)
        return [r for r in (*refs, *(m.loras[n] for n in self.lora_weights)) if r is not None]


@dataclass(frozen=True)
class JobPlan:
    """The request with its images decoded and its hires pass planned."""

    request: JobRequest
    inputs: Inputs  # the img2img / inpaint images, sized to the output
    init_image: tuple[Image.Image, str] | None  # img2img's, with its resize mode: units without an image take it
    hires: HiresPlan | None

    @property
    def job(self) -> InferenceInput:
        return self.request.job

    @property
    def payload(self) -> GenerationPayload:
        return self.request.payload

    @property
    def models(self) -> ResolvedModels:
        return self.request.job.models

    @property
    def lora_weights(self) -> dict[str, float]:
        return self.request.lora_weights


def read_request(job: InferenceInput) -> JobRequest:
    try:
        payload = parse_payload(job.task, job.payload)
    except ValidationError as exc:
        field, message = field_and_message(exc)
        raise InvalidJob(message, f"payload.{field}" if field else "payload") from exc
    loras = _lora_weights(payload, job.models)
    controlnets = [_controlnet_ref(i, unit.model, job.models) for i, unit in enumerate(payload.controlnet_units)]
    embeddings = {n: r for n, r in job.models.embeddings.items() if _mentions(payload, n)}
    return JobRequest(job, payload, loras, controlnets, embeddings)


def plan_job(request: JobRequest) -> JobPlan:
    """Needs the libraries. Decodes the job's images: a bad one fails before any download of a warm instance."""
    from inference_image.controlnet import unit_module
    from inference_image.hires import plan_hires
    from inference_image.images import decode_image
    from inference_image.inputs import IMG2IMG_RESIZE, prepare_inputs

    payload = request.payload
    for i, unit in enumerate(payload.controlnet_units):
        unit_module(i, unit)
    inputs = prepare_inputs(payload)
    hires = plan_hires(payload)
    init_image = None
    if isinstance(payload, Img2ImgPayload):
        init_image = (decode_image(payload.init_images[0], "init_images[0]"), IMG2IMG_RESIZE[payload.resize_mode])
    return JobPlan(request, inputs, init_image, hires)


def _lora_weights(payload: GenerationPayload, models: ResolvedModels) -> dict[str, float]:
    """LoRA tags of the prompt, weights summed by name (the WebUI ignores tags in the negative prompt)."""
    weights: dict[str, float] = {}
    for name, weight in lora_tags(payload.prompt):
        if name not in models.loras:
            raise InvalidJob(f"LoRA '{name}' is not among the job's resolved models", "payload.prompt")
        weights[name] = weights.get(name, 0.0) + weight
    return weights


def _controlnet_ref(index: int, title: str, models: ResolvedModels) -> ModelRef:
    ref = models.controlnets.get(title) or models.controlnets.get(model_name_of(title))
    if ref is None:
        raise InvalidJob(
            f"ControlNet model '{title}' is not among the job's resolved models",
            f"payload.{unit_field(index, 'model')}",
        )
    return ref


def _mentions(payload: GenerationPayload, name: str) -> bool:
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return bool(pattern.search(payload.prompt) or pattern.search(payload.negative_prompt))
