"""ControlNet units: control images from the unit fields, and per-unit control modes for MultiControlNet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from PIL import Image

from api_schema.controlnet_modes import CONTROL_MODES
from api_schema.controlnet_unit import ControlNetUnit
from api_schema.preprocessors import canonical_preprocessor
from api_schema.webui_fields import unit_field
from inference_image.errors import InvalidJob
from inference_image.images import decode_image, resize
from inference_image.infotext import controlnet_unit_text
from inference_image.preprocessors import DEFAULT_THRESHOLDS, Preprocessors

DEFAULT_PROCESSOR_RES = 512
BALANCED, PROMPT_MORE, CONTROL_MORE = CONTROL_MODES


class UnitControlNets(MultiControlNetModel):
    """MultiControlNet where each unit has its own control mode, as sd-webui-controlnet applies them.

    Balanced: residuals at the unit weight on both CFG halves. "My prompt is more important": soft
    weights rising towards the deep layers (diffusers' guess-mode scales, ~0.825**(12-i)).
    "ControlNet is more important": the soft weights, and the control only on the conditional half.
    """

    def __init__(self, nets: list[Any], modes: list[str], cfg_batch: bool) -> None:
        super().__init__(nets)
        self.modes = modes
        self.cfg_batch = cfg_batch

    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,
        timestep: Any,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: list[torch.Tensor],
        conditioning_scale: list[float],
        guess_mode: bool = False,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> Any:
        down_total: list[torch.Tensor] | None = None
        mid_total: torch.Tensor | None = None
        for image, scale, net, mode in zip(controlnet_cond, conditioning_scale, self.nets, self.modes, strict=True):
            down, mid = net(
                sample=sample,
                timestep=timestep,
                encoder_hidden_states=encoder_hidden_states,
                controlnet_cond=image,
                conditioning_scale=scale,
                guess_mode=mode != BALANCED,
                return_dict=False,
                **kwargs,
            )
            if mode == CONTROL_MORE and self.cfg_batch:
                cond_only = torch.ones(sample.shape[0], 1, 1, 1, device=sample.device, dtype=sample.dtype)
                cond_only[: sample.shape[0] // 2] = 0  # diffusers batches [uncond, cond]
                down = [d * cond_only for d in down]
                mid = mid * cond_only
            if down_total is None or mid_total is None:
                down_total, mid_total = list(down), mid
            else:
                down_total = [a + b for a, b in zip(down_total, down, strict=True)]
                mid_total = mid_total + mid
        return down_total, mid_total


@dataclass
class PreparedUnit:
    index: int
    unit: ControlNetUnit
    module: str
    resolution: int
    control_image: Image.Image
    detected: Image.Image  # the preprocessor's output, before it is sized to a pass
    resize_mode: str  # the unit's, or the img2img one when the unit takes the init image

    def control_at(self, width: int, height: int) -> Image.Image:
        """The control image for a pass at another size (the hires fix's second pass)."""
        return resize(self.detected, width, height, self.resize_mode)

    def applies(self, hires_pass: bool | None) -> bool:
        """Whether the unit controls a pass: None without the hires fix, else the first (False) or second pass."""
        if hires_pass is None or self.unit.hr_option == "Both":
            return True
        return self.unit.hr_option == ("High res only" if hires_pass else "Low res only")

    def infotext(self) -> str:
        a, b = DEFAULT_THRESHOLDS.get(self.module, (-1.0, -1.0))
        return controlnet_unit_text(
            {
                "Module": self.module,
                "Model": self.unit.model,
                "Weight": self.unit.weight,
                "Resize Mode": self.unit.resize_mode,
                "Processor Res": self.resolution,
                "Threshold A": self.unit.threshold_a if self.unit.threshold_a >= 0 else a,
                "Threshold B": self.unit.threshold_b if self.unit.threshold_b >= 0 else b,
                "Guidance Start": self.unit.guidance_start,
                "Guidance End": self.unit.guidance_end,
                "Pixel Perfect": self.unit.pixel_perfect,
                "Control Mode": self.unit.control_mode,
            }
        )


def pixel_perfect_resolution(image: Image.Image, width: int, height: int, resize_mode: str) -> int:
    """sd-webui-controlnet's pixel perfect: the detect resolution that maps 1:1 onto the output."""
    raw_w, raw_h = image.size
    k_h, k_w = height / raw_h, width / raw_w
    k = min(k_h, k_w) if resize_mode == "Resize and Fill" else max(k_h, k_w)
    return round(k * min(raw_w, raw_h))


def unit_module(index: int, unit: ControlNetUnit) -> str:
    """The canonical preprocessor name of a unit; InvalidJob names the unit's field."""
    try:
        return canonical_preprocessor(unit.module)
    except ValueError as exc:
        raise InvalidJob(str(exc), unit_field(index, "module")) from exc


def prepare_unit(
    index: int,
    unit: ControlNetUnit,
    width: int,
    height: int,
    preprocessors: Preprocessors,
    annotators: dict[str, Path],
    init_image: tuple[Image.Image, str] | None = None,
) -> PreparedUnit:
    """`init_image`: img2img's init image and resize mode, which a unit without an image of its own takes."""
    module = unit_module(index, unit)
    if unit.image or init_image is None:
        image = decode_image(unit.image or "", unit_field(index, "image"))
        resize_mode = unit.resize_mode
    else:
        image, resize_mode = init_image
    if unit.pixel_perfect:
        resolution = pixel_perfect_resolution(image, width, height, resize_mode)
    else:
        resolution = unit.processor_res if unit.processor_res > 0 else DEFAULT_PROCESSOR_RES
    detected = preprocessors.run(module, image, resolution, unit.threshold_a, unit.threshold_b, annotators)
    control = resize(detected, width, height, resize_mode)
    return PreparedUnit(index, unit, module, resolution, control, detected, resize_mode)


def detected_maps(units: list[PreparedUnit], hires_size: tuple[int, int] | None) -> list[Image.Image]:
    """The detected maps the extension appends to the images: per unit that saves them, the one sized for the
    hires fix's second pass (when there is one), then the one of the first pass."""
    maps = []
    for unit in units:
        if unit.unit.save_detected_map:
            if hires_size is not None:
                maps.append(unit.control_at(*hires_size))
            maps.append(unit.control_image)
    return maps
