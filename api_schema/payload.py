"""The AUTOMATIC1111 `/sdapi/v1/txt2img` and `/img2img` bodies, as far as sd-cloud runs them.

`parse_payload` takes every body the WebUI takes: `api_schema.support.screen` keeps the fields sd-cloud
implements (the models below) and turns the others into warnings (a value that changes nothing) or errors
(one that asks for what sd-cloud does not do). Names come in every form the WebUI and the ControlNet
extension take and are made canonical here. A bad body raises one ValidationError listing every problem.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from api_schema.controlnet_unit import ControlNetArgs, ControlNetUnit, ImageString, decodable
from api_schema.prompt_tags import lora_tags
from api_schema.samplers import canonical_sampler, canonical_schedule, split_sampler
from api_schema.support import Problem, screen
from api_schema.upscalers import parse_upscaler
from api_schema.validation_errors import problems
from api_schema.webui_fields import unit_field

NO_CHECKPOINT = ("", "None", "none", "Use same checkpoint")


class AlwaysOnScripts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    controlnet: ControlNetArgs | None = None


class OverrideSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sd_model_checkpoint: str | None = None
    sd_vae: str | None = Field(None, description="a VAE model name, or Automatic / None")
    CLIP_stop_at_last_layers: int = Field(1, ge=1, le=12)


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
    refiner_switch_at: float | None = Field(None, ge=0.0, le=1.0, description="the fraction of the denoising at "
                                                                            "the switch; left out: at once")
    override_settings: OverrideSettings = Field(default_factory=OverrideSettings)
    alwayson_scripts: AlwaysOnScripts = Field(default_factory=AlwaysOnScripts)

    _warnings: list[Problem] = PrivateAttr(default_factory=list)

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError("must be a multiple of 8")
        return value

    @field_validator("sampler_name")
    @classmethod
    def _sampler(cls, value: str) -> str:
        sampler, schedule = canonical_sampler(value)
        return f"{sampler} {schedule}" if schedule else sampler

    @field_validator("scheduler")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return canonical_schedule(value)

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _lora_weights(cls, value: str) -> str:
        lora_tags(value)  # raises on a malformed weight
        return value

    @field_validator("refiner_checkpoint")
    @classmethod
    def _refiner(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() in NO_CHECKPOINT else value

    @model_validator(mode="after")
    def _schedule_from_sampler(self) -> GenerationPayload:
        self.sampler_name, self.scheduler = split_sampler(self.sampler_name, self.scheduler)
        return self

    @property
    def refiner(self) -> str | None:
        """The refiner checkpoint, unless it never takes over (`refiner_switch_at` 1; the WebUI switches at the
        first step when it is left out)."""
        switch_at = self.refiner_switch_at
        return self.refiner_checkpoint if switch_at is None or switch_at < 1.0 else None

    @property
    def controlnet_units(self) -> list[ControlNetUnit]:
        """The enabled ControlNet units, in order."""
        cn = self.alwayson_scripts.controlnet
        return [unit for unit in cn.args if unit.enabled] if cn else []

    @property
    def warnings(self) -> list[Problem]:
        """Fields accepted but not used (paths inside the payload)."""
        return self._warnings

    def problems(self) -> list[Problem]:
        """What is wrong with the fields together (each field on its own is valid)."""
        return []

    def unused(self) -> list[Problem]:
        """Warnings for implemented fields that this body's other fields switch off, as the WebUI ignores them."""
        unused = []
        if "refiner_switch_at" in self.model_fields_set and not self.refiner_checkpoint:
            unused.append(Problem("refiner_switch_at", "ignored: refiner_checkpoint is off, so the WebUI ignores it"))
        if not getattr(self, "enable_hr", False):
            cn = self.alwayson_scripts.controlnet
            unused += [Problem(unit_field(i, "hr_option"), "ignored: there is no hires fix "
                               "pass (enable_hr, txt2img only), so the extension ignores it too")
                       for i, unit in enumerate(cn.args if cn else []) if "hr_option" in unit.model_fields_set]
        return unused


class Txt2ImgPayload(GenerationPayload):
    enable_hr: bool = Field(False, description="hires fix: upscale the first pass and denoise it again")
    hr_scale: float = Field(2.0, ge=1.0, le=8.0)
    hr_resize_x: int = Field(0, ge=0, le=8192)
    hr_resize_y: int = Field(0, ge=0, le=8192)
    hr_upscaler: str | None = Field(None, description="Latent (the default), Latent (antialiased|bicubic|bicubic "
                                                      "antialiased|nearest|nearest-exact), None, Lanczos, Nearest "
                                                      "or the name of an uploaded upscaler model")
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
        if value is None or value.strip() in ("", "Use same sampler"):
            return None
        sampler, schedule = canonical_sampler(value)
        return f"{sampler} {schedule}" if schedule else sampler

    @field_validator("hr_scheduler")
    @classmethod
    def _hr_schedule(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() in ("", "Use same scheduler") else canonical_schedule(value)

    @field_validator("hr_checkpoint_name")
    @classmethod
    def _hr_checkpoint(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() in NO_CHECKPOINT else value

    @field_validator("hr_prompt", "hr_negative_prompt")
    @classmethod
    def _hr_lora_weights(cls, value: str) -> str:
        lora_tags(value)
        return value

    @model_validator(mode="after")
    def _hr_schedule_from_sampler(self) -> Txt2ImgPayload:
        if self.hr_sampler_name is not None:
            self.hr_sampler_name, schedule = split_sampler(self.hr_sampler_name, self.hr_scheduler or "Automatic")
            self.hr_scheduler = self.hr_scheduler or (schedule if schedule != "Automatic" else None)
        return self

    def problems(self) -> list[Problem]:
        cn = self.alwayson_scripts.controlnet
        problems = [Problem(unit_field(i, "image"), "an enabled ControlNet unit needs an "
                            "image (only in img2img does a unit without one use the init image)")
                    for i, unit in enumerate(cn.args if cn else []) if unit.enabled and not unit.image]
        if self.enable_hr:
            for field, main in (("hr_prompt", self.prompt), ("hr_negative_prompt", self.negative_prompt)):
                value = getattr(self, field)
                if value and sorted(lora_tags(value)) != sorted(lora_tags(main)):
                    problems.append(Problem(field, f"the LoRA tags of {field} must be those of the first pass's "
                                                   "prompt (the hires pass runs with the job's LoRAs)"))
        return problems

    def unused(self) -> list[Problem]:
        unused = super().unused()
        if not self.enable_hr:
            unused += [Problem(name, "ignored: enable_hr is off, so the WebUI ignores it too")
                       for name in sorted(self.model_fields_set & HIRES_FIELDS)]
        return unused


class Img2ImgPayload(GenerationPayload):
    init_images: list[ImageString] = Field(min_length=1, max_length=8, description="base64 images")
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

    @field_validator("mask", mode="before")
    @classmethod
    def _no_mask(cls, value: Any) -> Any:
        return value or None  # clients send "" for no mask

    @field_validator("mask")
    @classmethod
    def _mask_decodes(cls, value: str | None) -> str | None:
        return value and decodable(value)


Task = Literal["txt2img", "img2img"]

PAYLOAD_MODELS: dict[str, type[GenerationPayload]] = {"txt2img": Txt2ImgPayload, "img2img": Img2ImgPayload}


HIRES_FIELDS = frozenset(name for name in Txt2ImgPayload.model_fields if name.startswith("hr_")) | {
    "denoising_strength"}


def parse_payload(task: str, payload: dict[str, Any]) -> GenerationPayload:
    """Validate a WebUI body for its task: the model, with `.warnings`; or one ValidationError naming every
    problem (each error's `loc` is its path inside the payload)."""
    screened = screen(task, payload)
    errors = list(screened.errors)
    try:
        parsed = PAYLOAD_MODELS[task].model_validate(screened.payload)
    except ValidationError as exc:
        errors += problems(exc)
    else:
        errors += parsed.problems()
    if errors:
        raise ValidationError.from_exception_data(PAYLOAD_MODELS[task].__name__, [
            {"type": PydanticCustomError("invalid_payload", "{message}", {"message": e.message}),
             "loc": tuple(int(p) if p.isdigit() else p for p in e.field.split(".")) if e.field else (),
             "input": None}
            for e in errors
        ])
    parsed._warnings = screened.warnings + parsed.unused()
    return parsed
