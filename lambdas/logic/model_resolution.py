"""Resolve every model a WebUI payload names to a ready, registered model file in S3.

Names are what the WebUI sends: checkpoint and ControlNet titles ('sd15.safetensors [6ce0161689]'), the
VAE setting ('Automatic' and 'None' mean no override), `<lora:name:weight>` tags, embedding names used as
words in the prompts, the hires fix's checkpoint and upscaler model, the refiner; annotators (preprocessor
weights) are all ready ones when any enabled ControlNet unit preprocesses its image, and a unit's preprocessor
must find the weights it needs there or baked into the inference image (`Settings.baked_annotators`). An unknown,
mistyped or unfinished model is a 400 naming it and its field; every such model of the payload is named at once.
"""

from __future__ import annotations

import re

from api_schema.jobs import ModelRef, ResolvedModels
from api_schema.payload import ControlNetUnit, GenerationPayload, Txt2ImgPayload
from api_schema.preprocessors import PREPROCESSORS
from api_schema.prompt_tags import lora_tags, model_name_of
from api_schema.upscalers import parse_upscaler
from api_schema.webui_fields import unit_field
from lambdas.data import models as data
from lambdas.data.records import ModelRecord
from lambdas.data.storage import bucket
from lambdas.errors import FieldError, InvalidInput
from lambdas.settings import settings

NO_VAE = ("", "Automatic", "None", "none", "auto")


def model_ref(record: ModelRecord) -> ModelRef:
    return ModelRef(id=record.id, name=record.name, type=record.type, filename=record.filename,
                    bucket=bucket(), key=record.key, size_bytes=record.size_bytes)


def resolve(title: str, model_type: str, field: str) -> ModelRef:
    name = model_name_of(title)
    record = data.get_model_by_name(name)
    for other in (title.strip(), model_name_of(re.split(r"[/\\]", title)[-1])):  # as typed; without a folder
        if record is None and other != name:
            record = data.get_model_by_name(other)
    if record is None:
        raise InvalidInput(f"{model_type} model '{name}' is not registered", field=field)
    if record.type != model_type:
        article = "an" if model_type[0] in "aeiou" else "a"
        raise InvalidInput(f"model '{name}' is a {record.type} model, not {article} {model_type}", field=field)
    if record.status != "ready":
        raise InvalidInput(f"model '{name}' is not ready (its upload was not completed)", field=field)
    return model_ref(record)


def uses_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


class _Resolver:
    """Resolves names one by one, keeping every failure so that the 400 names them all."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def __call__(self, title: str, model_type: str, field: str) -> ModelRef | None:
        try:
            return resolve(title, model_type, field)
        except InvalidInput as exc:
            self.errors += exc.errors
            return None


def resolve_models(payload: GenerationPayload) -> ResolvedModels:
    """Every model the payload names; InvalidInput lists each one that cannot be used."""
    resolver = _Resolver()
    settings_ = payload.override_settings
    checkpoint = None
    if not settings_.sd_model_checkpoint:
        resolver.errors.append(FieldError("payload.override_settings.sd_model_checkpoint",
                                          "override_settings.sd_model_checkpoint is required: the checkpoint to run"))
    else:
        checkpoint = resolver(settings_.sd_model_checkpoint, "checkpoint",
                              "payload.override_settings.sd_model_checkpoint")
    vae = None
    if settings_.sd_vae and settings_.sd_vae.strip() not in NO_VAE:
        vae = resolver(settings_.sd_vae, "vae", "payload.override_settings.sd_vae")

    loras: dict[str, ModelRef | None] = {}
    hires = isinstance(payload, Txt2ImgPayload) and payload.enable_hr
    prompt_fields = ("prompt", "negative_prompt", *(("hr_prompt", "hr_negative_prompt") if hires else ()))
    for field in prompt_fields:
        for name, _weight in lora_tags(getattr(payload, field)):
            if name not in loras:
                loras[name] = resolver(name, "lora", f"payload.{field}")

    controlnets: dict[str, ModelRef | None] = {}
    units = payload.alwayson_scripts.controlnet.args if payload.alwayson_scripts.controlnet else []
    for index, unit in enumerate(units):
        if unit.enabled and unit.model not in controlnets:
            field = f"payload.{unit_field(index, 'model')}"
            controlnets[unit.model] = resolver(unit.model, "controlnet", field)

    text = "\n".join(getattr(payload, field) for field in prompt_fields)
    embeddings = {record.name: model_ref(record) for record in data.ready_models("embedding")
                  if uses_word(text, record.name)}
    annotators: dict[str, ModelRef] = {}
    if any(unit.module != "none" for unit in payload.controlnet_units):
        annotators = {record.name: model_ref(record) for record in data.ready_models("annotator")}
        resolver.errors += missing_annotators(units, set(annotators) | set(settings().baked_annotator_names))

    hr_checkpoint = upscaler = refiner = None
    if hires:
        assert isinstance(payload, Txt2ImgPayload)
        if payload.hr_checkpoint_name:
            hr_checkpoint = resolver(payload.hr_checkpoint_name, "checkpoint", "payload.hr_checkpoint_name")
        hr_upscaler = parse_upscaler(payload.hr_upscaler)
        if hr_upscaler.kind == "model":
            upscaler = resolver(hr_upscaler.name, "upscaler", "payload.hr_upscaler")
    if payload.refiner:
        refiner = resolver(payload.refiner, "checkpoint", "payload.refiner_checkpoint")

    if resolver.errors or checkpoint is None:
        raise InvalidInput.of(resolver.errors)
    return ResolvedModels(checkpoint=checkpoint, vae=vae,
                          loras={k: v for k, v in loras.items() if v is not None}, embeddings=embeddings,
                          controlnets={k: v for k, v in controlnets.items() if v is not None}, annotators=annotators,
                          hr_checkpoint=hr_checkpoint, upscaler=upscaler, refiner=refiner)


def missing_annotators(units: list[ControlNetUnit], available: set[str]) -> list[FieldError]:
    """A 400 for each enabled unit whose preprocessor needs annotator weights that are nowhere to be found."""
    errors = []
    for index, unit in enumerate(units):
        missing = [name for name in PREPROCESSORS[unit.module].required if name not in available]
        if unit.enabled and missing:
            errors.append(FieldError(
                f"payload.{unit_field(index, 'module')}",
                f"preprocessor '{unit.module}' needs the annotator model(s) {', '.join(missing)}: upload them as "
                "models of type annotator under those names, or run an inference image that bakes them in"))
    return errors
