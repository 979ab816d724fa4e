"""The AUTOMATIC1111 `/sdapi/v1/txt2img` and `/img2img` bodies, as far as sd-cloud runs them.

Known WebUI fields that sd-cloud does not run are accepted only at their WebUI default; any other
value is rejected with a message naming the field, never silently ignored. Unknown fields are
rejected too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from api_schema.controlnet_modes import CONTROL_MODES, RESIZE_MODES
from api_schema.prompt_tags import lora_tags
from api_schema.samplers import SAMPLERS, SCHEDULE_TYPES
from api_schema.upscalers import HR_OPTIONS, parse_upscaler

MAX_CONTROLNET_UNITS = 10


# WebUI API fields we accept only at these values (the WebUI's defaults).
_UNSUPPORTED_AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "styles": ([], None),
    "subseed_strength": (0, 0.0, None),
    "seed_resize_from_h": (-1, 0, None),
    "seed_resize_from_w": (-1, 0, None),
    "restore_faces": (False, None),
    "tiling": (False, None),
    "script_name": (None, ""),
    "script_args": ([], None),
    "disable_extra_networks": (False, None),
    "firstpass_image": (None,),
    "comments": ({}, None),
    "infotext": (None,),
    "force_task_id": (None,),
    "sampler_index": (None, "Euler", "Euler a"),
    "send_images": (True, None),
    "save_images": (False, None),
    "do_not_save_samples": (False, True, None),
    "do_not_save_grid": (False, True, None),
    "override_settings_restore_afterwards": (True, None),
    "eta": (None, 0, 0.0, 1, 1.0),
    "s_min_uncond": (None, 0, 0.0),
    "s_churn": (None, 0, 0.0),
    "s_tmax": (None, 0, 0.0),
    "s_tmin": (None, 0, 0.0),
    "s_noise": (None, 1, 1.0),
    "include_init_images": (False, None),
    "image_cfg_scale": (None,),
    "latent_mask": (None,),
    "initial_noise_multiplier": (None, 1, 1.0),
}

_OVERRIDE_SETTINGS = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers")


class ControlNetUnit(BaseModel):
    """One unit of `alwayson_scripts.controlnet.args`, as the sd-webui-controlnet API takes it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    module: str = "none"
    model: str = "None"
    weight: float = Field(1.0, ge=0.0, le=2.0)
    image: str | None = Field(None, description="base64 PNG/JPEG, with or without a data: prefix")
    resize_mode: str = "Crop and Resize"
    processor_res: int = Field(-1, ge=-1, le=2048)
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = Field(0.0, ge=0.0, le=1.0)
    guidance_end: float = Field(1.0, ge=0.0, le=1.0)
    control_mode: str = "Balanced"
    pixel_perfect: bool = False
    low_vram: bool = False
    save_detected_map: bool = Field(True, description="return the unit's detected map after the images")
    hr_option: str = Field("Both", description="which hires fix passes the unit applies to")

    @field_validator("image", mode="before")
    @classmethod
    def _image_dict(cls, value: Any) -> Any:
        # The extension also sends {"image": b64, "mask": b64 | None}.
        if isinstance(value, dict):
            if value.get("mask"):
                raise ValueError("a ControlNet mask is not supported")
            return value.get("image")
        return value

    @field_validator("resize_mode", mode="before")
    @classmethod
    def _resize_mode(cls, value: Any) -> Any:
        return _enum_by_index(value, RESIZE_MODES, "resize_mode")

    @field_validator("control_mode", mode="before")
    @classmethod
    def _control_mode(cls, value: Any) -> Any:
        return _enum_by_index(value, CONTROL_MODES, "control_mode")

    @field_validator("hr_option", mode="before")
    @classmethod
    def _hr_option(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = next((name for name in HR_OPTIONS if name.lower() == value.strip().lower()), value)
        return _enum_by_index(value, HR_OPTIONS, "hr_option")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ControlNetUnit:
        if self.guidance_start > self.guidance_end:
            raise ValueError("guidance_start must not exceed guidance_end")
        if self.enabled and self.model in ("", "None", "none"):
            raise ValueError("an enabled ControlNet unit needs a model")
        # In img2img a unit without an image takes the init image, as the extension does.
        if self.enabled and not self.image and (info.context or {}).get("task") != "img2img":
            raise ValueError("an enabled ControlNet unit needs an image")
        return self


NO_CHECKPOINT = ("", "None", "none", "Use same checkpoint")


def _known_sampler(value: str) -> str:
    if value not in SAMPLERS:
        raise ValueError(f"unknown sampler '{value}'; supported: {', '.join(SAMPLERS)}")
    return value


def _known_schedule(value: str) -> str:
    if value not in SCHEDULE_TYPES:
        raise ValueError(f"unknown scheduler '{value}'; supported: {', '.join(SCHEDULE_TYPES)}")
    return value


def _enum_by_index(value: Any, names: tuple[str, ...], field: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(names):
            return names[value]
        raise ValueError(f"{field} must be one of {list(names)} or 0..{len(names) - 1}")
    if isinstance(value, str) and value not in names:
        raise ValueError(f"{field} must be one of {list(names)}")
    return value


class ControlNetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: list[ControlNetUnit] = Field(default_factory=list, max_length=MAX_CONTROLNET_UNITS)


class AlwaysOnScripts(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    controlnet: ControlNetArgs | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_controlnet(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {}
        for name, value in data.items():
            if name.lower() == "controlnet":
                out["controlnet"] = value
            elif value not in ({}, {"args": []}, None):
                raise ValueError(f"alwayson_scripts.{name} is not supported (only controlnet)")
        return out


class OverrideSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sd_model_checkpoint: str | None = None
    sd_vae: str | None = Field(None, description="a VAE model name, or Automatic / None")
    CLIP_stop_at_last_layers: int = Field(1, ge=1, le=12)

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                if name not in _OVERRIDE_SETTINGS:
                    raise ValueError(
                        f"override_settings.{name} is not supported (supported: {', '.join(_OVERRIDE_SETTINGS)})"
                    )
        return data


class GenerationPayload(BaseModel):
    """Fields common to txt2img and img2img."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", max_length=20_000)
    negative_prompt: str = Field("", max_length=20_000)
    sampler_name: str = "Euler a"
    scheduler: str = "Automatic"
    steps: int = Field(20, ge=1, le=150)
    cfg_scale: float = Field(7.0, ge=1.0, le=30.0)
    width: int = Field(512, ge=64, le=2048)
    height: int = Field(512, ge=64, le=2048)
    seed: int = Field(-1, ge=-1, le=2**32 - 1)
    subseed: int = Field(-1, ge=-1, le=2**32 - 1)
    batch_size: int = Field(1, ge=1, le=8)
    n_iter: int = Field(1, ge=1, le=16)
    denoising_strength: float | None = Field(None, ge=0.0, le=1.0)
    refiner_checkpoint: str | None = Field(None, description="a checkpoint that takes over the denoising")
    refiner_switch_at: float | None = Field(None, ge=0.0, le=1.0, description="the fraction of the steps at the switch")
    override_settings: OverrideSettings = Field(default_factory=OverrideSettings)
    alwayson_scripts: AlwaysOnScripts = Field(default_factory=AlwaysOnScripts)

    @model_validator(mode="before")
    @classmethod
    def _unsupported_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, defaults in _UNSUPPORTED_AT_DEFAULT.items():
            if name in data:
                value = data.pop(name)
                if not any((value == default and type(value) is type(default)) or value is default
                           for default in defaults):
                    raise ValueError(f"{name} is not supported: leave it at its default {defaults[0]!r}")
        return data

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError("must be a multiple of 8")
        return value

    @field_validator("sampler_name")
    @classmethod
    def _sampler(cls, value: str) -> str:
        return _known_sampler(value)

    @field_validator("scheduler")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _known_schedule(value)

    @field_validator("refiner_checkpoint")
    @classmethod
    def _refiner(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() in NO_CHECKPOINT else value

    @property
    def refiner(self) -> str | None:
        """The refiner checkpoint, unless it never takes over (`refiner_switch_at` 1; the WebUI switches at the
        first step when it is left out)."""
        switch_at = self.refiner_switch_at
        return self.refiner_checkpoint if switch_at is None or switch_at < 1.0 else None

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _lora_weights(cls, value: str) -> str:
        lora_tags(value)  # raises on a malformed weight
        return value

    @property
    def controlnet_units(self) -> list[ControlNetUnit]:
        """The enabled ControlNet units, in order."""
        cn = self.alwayson_scripts.controlnet
        return [unit for unit in cn.args if unit.enabled] if cn else []


class Txt2ImgPayload(GenerationPayload):
    enable_hr: bool = Field(False, description="hires fix: upscale the first pass and denoise it again")
    hr_scale: float = Field(2.0, ge=1.0, le=8.0)
    hr_resize_x: int = Field(0, ge=0, le=8192)
    hr_resize_y: int = Field(0, ge=0, le=8192)
    hr_upscaler: str | None = Field(None, description="Latent (the default), Latent (...), None, Lanczos, Nearest "
                                                      "or an uploaded upscaler model")
    hr_second_pass_steps: int = Field(0, ge=0, le=150, description="0: as many as steps")
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = Field("", max_length=20_000)
    hr_negative_prompt: str = Field("", max_length=20_000)

    @field_validator("hr_upscaler")
    @classmethod
    def _upscaler(cls, value: str | None) -> str | None:
        return value if value is None else parse_upscaler(value).name

    @field_validator("hr_sampler_name")
    @classmethod
    def _hr_sampler(cls, value: str | None) -> str | None:
        return None if value in (None, "", "Use same sampler") else _known_sampler(value)

    @field_validator("hr_scheduler")
    @classmethod
    def _hr_schedule(cls, value: str | None) -> str | None:
        return None if value in (None, "", "Use same scheduler") else _known_schedule(value)

    @field_validator("hr_checkpoint_name")
    @classmethod
    def _hr_checkpoint(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() in NO_CHECKPOINT else value

    @field_validator("hr_prompt", "hr_negative_prompt")
    @classmethod
    def _hr_loras(cls, value: str, info: ValidationInfo) -> str:
        tags = lora_tags(value)
        main = "prompt" if info.field_name == "hr_prompt" else "negative_prompt"
        if value and info.data.get("enable_hr") and sorted(tags) != sorted(lora_tags(info.data.get(main, ""))):
            raise ValueError(f"the LoRA tags of {info.field_name} must be those of {main} (the hires pass runs with "
                             "the job's LoRAs)")
        return value


class Img2ImgPayload(GenerationPayload):
    init_images: list[str] = Field(min_length=1, max_length=8, description="base64 images")
    denoising_strength: float | None = Field(0.75, ge=0.0, le=1.0)
    resize_mode: int = Field(0, ge=0, le=3)
    mask: str | None = Field(None, description="base64 inpainting mask: white is repainted")
    mask_blur: int = Field(4, ge=0, le=64)
    mask_blur_x: int = Field(4, ge=0, le=64)
    mask_blur_y: int = Field(4, ge=0, le=64)
    mask_round: bool = True
    inpainting_fill: int = Field(1, ge=0, le=3)
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = Field(32, ge=0, le=256)
    inpainting_mask_invert: int = Field(0, ge=0, le=1)


Task = Literal["txt2img", "img2img"]

PAYLOAD_MODELS: dict[str, type[GenerationPayload]] = {"txt2img": Txt2ImgPayload, "img2img": Img2ImgPayload}


def parse_payload(task: str, payload: dict[str, Any]) -> GenerationPayload:
    """Validate a WebUI body for its task; raises pydantic.ValidationError naming the field."""
    return PAYLOAD_MODELS[task].model_validate(payload, context={"task": task})
