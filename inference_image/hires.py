"""The WebUI's hires fix (txt2img `enable_hr`), as modules/processing.py StableDiffusionProcessingTxt2Img runs it.

The first pass generates at width x height; its latents are interpolated (the Latent family) or its decoded
images upscaled (None, Lanczos, Nearest, an ESRGAN-family model) to the target size; a second, img2img pass
at that size denoises them again with its own steps, sampler, prompts and, optionally, checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from api_schema.payload import Txt2ImgPayload
from api_schema.upscalers import LATENT_UPSCALE_MODES, Upscaler, parse_upscaler
from inference_image.errors import InvalidJob
from inference_image.infotext import number

OPT_F = 8  # pixels per latent
DEFAULT_DENOISING = 0.75  # StableDiffusionProcessingTxt2Img.denoising_strength


@dataclass(frozen=True)
class HiresPlan:
    """Where the second pass goes and how, from the payload alone."""

    upscaler: Upscaler
    upscale_to: tuple[int, int]  # the upscaled size, before any crop
    truncate: tuple[int, int]  # latent columns and rows cropped off (hr_resize_x and _y both set, other ratio)
    steps: int  # the steps the second pass runs
    denoising_strength: float
    sampler_name: str
    scheduler: str
    prompt: str
    negative_prompt: str

    @property
    def size(self) -> tuple[int, int]:
        """The final image size: the upscaled latents, less the crop."""
        (x, y), (tx, ty) = self.upscale_to, self.truncate
        return (x // OPT_F - tx) * OPT_F, (y // OPT_F - ty) * OPT_F

    @property
    def schedule(self) -> tuple[int, float]:
        """(num_inference_steps, strength) for a diffusers img2img pipeline that runs exactly `steps` steps, as the
        WebUI's setup_img2img_steps does for the hires pass: a schedule of steps / strength, its last `steps`."""
        total = int(self.steps / min(self.denoising_strength, 0.999))
        return total, min(1.0, (self.steps + 0.5) / total)


def target_size(payload: Txt2ImgPayload) -> tuple[tuple[int, int], tuple[int, int]]:
    """(upscale_to, truncate) as `calculate_target_resolution` computes them."""
    width, height, rx, ry = payload.width, payload.height, payload.hr_resize_x, payload.hr_resize_y
    if rx == 0 and ry == 0:
        return (int(width * payload.hr_scale), int(height * payload.hr_scale)), (0, 0)
    if ry == 0:
        return (rx, rx * height // width), (0, 0)
    if rx == 0:
        return (ry * width // height, ry), (0, 0)
    to = (rx, rx * height // width) if width / height < rx / ry else (ry * width // height, ry)
    return to, ((to[0] - rx) // OPT_F, (to[1] - ry) // OPT_F)


def plan_hires(payload: Any) -> HiresPlan | None:
    if not isinstance(payload, Txt2ImgPayload) or not payload.enable_hr:
        return None
    strength = DEFAULT_DENOISING if payload.denoising_strength is None else payload.denoising_strength
    if strength <= 0:
        raise InvalidJob("denoising_strength must be above 0 for the hires fix's second pass", "denoising_strength")
    upscale_to, truncate = target_size(payload)
    plan = HiresPlan(
        upscaler=parse_upscaler(payload.hr_upscaler),
        upscale_to=upscale_to,
        truncate=truncate,
        steps=payload.hr_second_pass_steps or payload.steps,
        denoising_strength=strength,
        sampler_name=payload.hr_sampler_name or payload.sampler_name,
        scheduler=payload.hr_scheduler or payload.scheduler,
        prompt=payload.hr_prompt or payload.prompt,
        negative_prompt=payload.hr_negative_prompt or payload.negative_prompt,
    )
    if min(plan.size) < OPT_F or max(plan.size) > 4096:
        raise InvalidJob(f"the hires fix's target size {plan.size[0]}x{plan.size[1]} is out of 8..4096", "hr_scale")
    return plan


def infotext_entries(plan: HiresPlan, payload: Txt2ImgPayload, checkpoint_title: str | None) -> dict[str, Any]:
    """The WebUI's hires entries, in its order (`Denoising strength` has its own place in the infotext)."""
    from inference_image.schedulers import resolved_schedule

    first_schedule = resolved_schedule(payload.sampler_name, payload.scheduler)
    hires_schedule = resolved_schedule(plan.sampler_name, plan.scheduler)
    resized = payload.hr_resize_x or payload.hr_resize_y
    return {
        "Hires checkpoint": checkpoint_title,
        "Hires sampler": plan.sampler_name if plan.sampler_name != payload.sampler_name else None,
        "Hires prompt": plan.prompt if plan.prompt != payload.prompt else None,
        "Hires negative prompt": plan.negative_prompt if plan.negative_prompt != payload.negative_prompt else None,
        "Hires schedule type": hires_schedule if hires_schedule != first_schedule else None,
        "Hires upscale": None if resized else number(payload.hr_scale),
        "Hires resize": f"{payload.hr_resize_x}x{payload.hr_resize_y}" if resized else None,
        "Hires steps": payload.hr_second_pass_steps or None,
        "Hires upscaler": plan.upscaler.name if payload.hr_upscaler is not None else None,
    }


def upscale_latents(latents: torch.Tensor, plan: HiresPlan) -> torch.Tensor:
    mode, antialias = LATENT_UPSCALE_MODES[plan.upscaler.name]
    x, y = plan.upscale_to
    return torch.nn.functional.interpolate(
        latents, size=(y // OPT_F, x // OPT_F), mode=mode, antialias=antialias
    )


def crop_latents(latents: torch.Tensor, truncate: tuple[int, int]) -> torch.Tensor:
    tx, ty = truncate
    return latents[:, :, ty // 2 : latents.shape[2] - (ty + 1) // 2, tx // 2 : latents.shape[3] - (tx + 1) // 2]


def crop_image(image: Image.Image, plan: HiresPlan) -> Image.Image:
    """The pixel-upscaled image cut as `crop_latents` cuts latents."""
    (tx, ty), (width, height) = plan.truncate, plan.size
    left, top = tx // 2 * OPT_F, ty // 2 * OPT_F
    return image.crop((left, top, left + width, top + height))
