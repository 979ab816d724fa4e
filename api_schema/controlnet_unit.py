"""One ControlNet unit of a WebUI body (`alwayson_scripts.controlnet.args`), as sd-webui-controlnet's API takes
it, names made canonical."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from api_schema.controlnet_modes import HR_OPTIONS, canonical_control_mode, canonical_resize_mode
from api_schema.images import image_problem
from api_schema.preprocessors import canonical_preprocessor

MAX_CONTROLNET_UNITS = 10
NO_MODEL = ("", "None", "none")


def decodable(value: str) -> str:
    """A request's image string that can be an image (known at submit, beside the body's other problems)."""
    if problem := image_problem(value):
        raise ValueError(f"the image {problem}")
    return value


ImageString = Annotated[str, AfterValidator(decodable)]


class ControlNetUnit(BaseModel):
    """One unit of `alwayson_scripts.controlnet.args`, as the sd-webui-controlnet API takes it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    module: str = "none"
    model: str = "None"
    weight: float = Field(1.0, ge=0.0, le=2.0)
    image: str | None = Field(None, description="base64 PNG/JPEG/WebP, with or without a data: prefix; "
                                                "none in img2img: the init image")
    resize_mode: str = "Crop and Resize"
    processor_res: int = Field(-1, ge=-1, le=2048)
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = Field(0.0, ge=0.0, le=1.0)
    guidance_end: float = Field(1.0, ge=0.0, le=1.0)
    control_mode: str = "Balanced"
    pixel_perfect: bool = False
    save_detected_map: bool = Field(True, description="return the unit's detected map after the images")
    hr_option: str = Field("Both", description="the hires fix passes the unit controls: Both, Low res only or "
                                               "High res only")

    @field_validator("image", mode="before")
    @classmethod
    def _image_forms(cls, value: Any) -> Any:
        # The extension also takes {"image": b64, "mask": b64 | None} and [image, mask].
        if isinstance(value, dict):
            image, mask = value.get("image"), value.get("mask")
        elif isinstance(value, (list, tuple)) and len(value) == 2 and not isinstance(value[0], dict):
            image, mask = value
        else:
            image, mask = value, None
        if mask:
            raise ValueError("a ControlNet mask is not supported")
        return image or None

    @field_validator("image")
    @classmethod
    def _decodes(cls, value: str | None, info: ValidationInfo) -> str | None:
        # a disabled unit's image is never read, by the extension either
        return decodable(value) if value and info.data.get("enabled", True) else value

    @field_validator("module")
    @classmethod
    def _module(cls, value: str) -> str:
        return canonical_preprocessor(value)

    @field_validator("resize_mode", mode="before")
    @classmethod
    def _resize_mode(cls, value: Any) -> str:
        return canonical_resize_mode(value)

    @field_validator("control_mode", mode="before")
    @classmethod
    def _control_mode(cls, value: Any) -> str:
        return canonical_control_mode(value)

    @field_validator("hr_option", mode="before")
    @classmethod
    def _hr_option(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(HR_OPTIONS):
            return HR_OPTIONS[value]
        for option in HR_OPTIONS:
            if isinstance(value, str) and value.strip().lower() == option.lower():
                return option
        raise ValueError(f"hr_option must be one of {list(HR_OPTIONS)}")

    def applies(self, hires_pass: bool | None) -> bool:
        """Whether the unit controls a pass: None without the hires fix, else the first (False) or second pass."""
        if hires_pass is None or self.hr_option == "Both":
            return True
        return self.hr_option == ("High res only" if hires_pass else "Low res only")

    @model_validator(mode="after")
    def _consistent(self) -> ControlNetUnit:
        if self.guidance_start > self.guidance_end:
            raise ValueError("guidance_start must not exceed guidance_end")
        if self.enabled and self.model.strip() in NO_MODEL:
            raise ValueError("an enabled ControlNet unit needs a model")
        return self


class ControlNetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: list[ControlNetUnit] = Field(default_factory=list, max_length=MAX_CONTROLNET_UNITS)
