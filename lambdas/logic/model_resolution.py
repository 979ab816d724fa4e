"""Resolve every model a WebUI payload names to a ready, registered model file in S3.

Names are what the WebUI sends: checkpoint and ControlNet titles ('sd15.safetensors [6ce0161689]'), the
VAE setting ('Automatic' and 'None' mean no override), `<lora:name:weight>` tags, embedding names used as
words in the prompts, the hires fix's checkpoint and upscaler model, the refiner; annotators (preprocessor
weights) are all ready ones when any enabled ControlNet unit preprocesses its image. An unknown, mistyped or
unfinished model is a 400 naming it and its field.
"""

from __future__ import annotations

import re
from typing import Any

from api_schema.jobs import ModelRef, ResolvedModels
from api_schema.payload import GenerationPayload, Txt2ImgPayload
from api_schema.prompt_tags import lora_tags, model_name_of
from api_schema.upscalers import parse_upscaler
from lambdas.data import models as data
from lambdas.data.storage import bucket
from lambdas.errors import InvalidInput

NO_VAE = ("", "Automatic", "None", "none", "auto")
NO_MODULE = ("", "none", "None")


def model_ref(item: dict[str, Any]) -> ModelRef:
    return ModelRef(id=item["id"], name=item["name"], type=item["type"], filename=item["filename"],
                    bucket=bucket(), key=item["key"], size_bytes=item["size_bytes"])


def resolve(title: str, model_type: str, field: str) -> ModelRef:
    name = model_name_of(title)
    item = data.get_model_by_name(name)
    if item is None and name != title.strip():
        item = data.get_model_by_name(title.strip())
    if item is None:
        raise InvalidInput(f"{model_type} model '{name}' is not registered", field=field)
    if item["type"] != model_type:
        article = "an" if model_type[0] in "aeiou" else "a"
        raise InvalidInput(f"model '{name}' is a {item['type']} model, not {article} {model_type}", field=field)
    if item["status"] != "ready":
        raise InvalidInput(f"model '{name}' is not ready (its upload was not completed)", field=field)
    return model_ref(item)


def uses_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def resolve_models(payload: GenerationPayload) -> ResolvedModels:
    settings = payload.override_settings
    if not settings.sd_model_checkpoint:
        raise InvalidInput("override_settings.sd_model_checkpoint is required: the checkpoint to run",
                           field="payload.override_settings.sd_model_checkpoint")
    checkpoint = resolve(settings.sd_model_checkpoint, "checkpoint", "payload.override_settings.sd_model_checkpoint")
    vae = None
    if settings.sd_vae and settings.sd_vae.strip() not in NO_VAE:
        vae = resolve(settings.sd_vae, "vae", "payload.override_settings.sd_vae")

    loras: dict[str, ModelRef] = {}
    hires = isinstance(payload, Txt2ImgPayload) and payload.enable_hr
    prompt_fields = ("prompt", "negative_prompt", *(("hr_prompt", "hr_negative_prompt") if hires else ()))
    for field in prompt_fields:
        for name, _weight in lora_tags(getattr(payload, field)):
            if name not in loras:
                loras[name] = resolve(name, "lora", f"payload.{field}")

    controlnets: dict[str, ModelRef] = {}
    units = payload.alwayson_scripts.controlnet.args if payload.alwayson_scripts.controlnet else []
    for index, unit in enumerate(units):
        if unit.enabled and unit.model not in controlnets:
            field = f"payload.alwayson_scripts.controlnet.args.{index}.model"
            controlnets[unit.model] = resolve(unit.model, "controlnet", field)

    text = "\n".join(getattr(payload, field) for field in prompt_fields)
    embeddings = {item["name"]: model_ref(item) for item in data.ready_models("embedding")
                  if uses_word(text, item["name"])}
    annotators: dict[str, ModelRef] = {}
    if any(unit.module not in NO_MODULE for unit in payload.controlnet_units):
        annotators = {item["name"]: model_ref(item) for item in data.ready_models("annotator")}

    hr_checkpoint = upscaler = refiner = None
    if hires:
        assert isinstance(payload, Txt2ImgPayload)
        if payload.hr_checkpoint_name:
            hr_checkpoint = resolve(payload.hr_checkpoint_name, "checkpoint", "payload.hr_checkpoint_name")
        hr_upscaler = parse_upscaler(payload.hr_upscaler)
        if hr_upscaler.kind == "model":
            upscaler = resolve(hr_upscaler.name, "upscaler", "payload.hr_upscaler")
    if payload.refiner:
        refiner = resolve(payload.refiner, "checkpoint", "payload.refiner_checkpoint")

    return ResolvedModels(checkpoint=checkpoint, vae=vae, loras=loras, embeddings=embeddings,
                          controlnets=controlnets, annotators=annotators, hr_checkpoint=hr_checkpoint,
                          upscaler=upscaler, refiner=refiner)
