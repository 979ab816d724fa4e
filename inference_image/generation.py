"""One WebUI job on a loaded pipeline: the task pipeline, its call arguments, seeds and images.

The denoising itself goes through a `Runner`: `run_pipeline` calls the diffusers pipeline; another
runner (a compiled or otherwise faster path) can be passed to the Predictor instead. It receives the
task pipeline (a diffusers pipeline sharing the pooled modules) and the keyword arguments of its
`__call__`, and returns the PIL images of one batch.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageFilter, ImageOps

from api_schema.payload import GenerationPayload, Img2ImgPayload
from inference_image.controlnet import PreparedUnit, UnitControlNets
from inference_image.errors import InvalidJob
from inference_image.images import decode_image, decode_mask, resize
from inference_image.prompts import encode_prompts
from inference_image.refiner import Refiner, attach

if TYPE_CHECKING:
    from inference_image.hires_pass import HiresPass

Runner = Callable[[Any, dict[str, Any]], list[Image.Image]]

IMG2IMG_RESIZE = {0: "Just Resize", 1: "Crop and Resize", 2: "Resize and Fill", 3: "Just Resize"}


def run_pipeline(pipe: Any, kwargs: dict[str, Any]) -> list[Image.Image]:
    """The default runner: the diffusers pipeline's own denoising loop."""
    return list(pipe(**kwargs).images)


@dataclass
class Inputs:
    """The images of an img2img / inpaint job, already sized to the output."""

    init: Image.Image | None = None
    original: Image.Image | None = None  # the init image before any masked-content fill
    mask: Image.Image | None = None  # white is repainted, after invert, before blur
    blurred_mask: Image.Image | None = None
    crop_box: tuple[int, int, int, int] | None = None  # "only masked": the region generated at full size
    extra_params: dict[str, Any] = field(default_factory=dict)


def _fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The WebUI's 'fill' masked content: the masked area replaced by ever finer blurs of its surroundings."""
    result = Image.new("RGBA", image.size)
    masked = Image.new("RGBa", image.size)
    masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            result.alpha_composite(blurred)
    return result.convert("RGB")


def prepare_inputs(payload: GenerationPayload) -> Inputs:
    if not isinstance(payload, Img2ImgPayload):
        return Inputs()
    if len(payload.init_images) > 1:
        raise InvalidJob("one init image per job is supported (the WebUI's batch of init images is not)", "init_images")
    mode = IMG2IMG_RESIZE[payload.resize_mode]
    init = resize(decode_image(payload.init_images[0], "init_images[0]"), payload.width, payload.height, mode)
    strength = payload.denoising_strength or 0.0
    if int(payload.steps * strength) < 1:
        raise InvalidJob(
            f"denoising_strength {strength} x steps {payload.steps} leaves no denoising step: raise either",
            "denoising_strength",
        )
    params: dict[str, Any] = {"Denoising strength": payload.denoising_strength}
    if payload.mask is None:
        return Inputs(init=init, extra_params=params)
    if not payload.mask_round:
        raise InvalidJob("mask_round false is not supported (the latent mask is always rounded)", "mask_round")
    if payload.inpainting_fill not in (0, 1):
        raise InvalidJob("inpainting_fill supports 0 (fill) and 1 (original)", "inpainting_fill")
    mask = resize(decode_mask(payload.mask, "mask"), payload.width, payload.height, mode)
    if payload.inpainting_mask_invert:
        mask = ImageOps.invert(mask)
    # `mask_blur`, when sent, sets both directions (the WebUI's processing does the same).
    blur_x, blur_y = (
        (payload.mask_blur, payload.mask_blur)
        if "mask_blur" in payload.model_fields_set
        else (payload.mask_blur_x, payload.mask_blur_y)
    )
    blurred = mask
    if blur_x or blur_y:
        import cv2
        import numpy as np

        pixels = np.asarray(mask)
        for axis, blur in ((1, blur_x), (0, blur_y)):
            if blur:
                size = int(2.5 * blur + 0.5) * 2 + 1
                kernel = (size, 1) if axis == 1 else (1, size)
                pixels = cv2.GaussianBlur(pixels, kernel, blur)
        blurred = Image.fromarray(pixels)
    original = init
    if payload.inpainting_fill == 0:
        init = _fill(init, blurred)
    params.update(
        {
            "Mask blur": blur_x if blur_x == blur_y else None,
            "Inpaint area": "Only masked" if payload.inpaint_full_res else None,
            "Masked area padding": payload.inpaint_full_res_padding if payload.inpaint_full_res else None,
            "Mask mode": "Inpaint not masked" if payload.inpainting_mask_invert else None,
            "Masked content": ("fill", "original")[payload.inpainting_fill] if payload.inpainting_fill != 1 else None,
        }
    )
    box = None
    if payload.inpaint_full_res:
        # "Only masked": the masked region plus padding, widened to the output's aspect ratio, is generated
        # at the full output size and pasted back.
        from diffusers.image_processor import VaeImageProcessor

        box = VaeImageProcessor.get_crop_region(
            mask, payload.width, payload.height, pad=payload.inpaint_full_res_padding
        )
        init, mask = (
            crop_to(init, box, payload.width, payload.height),
            crop_to(mask, box, payload.width, payload.height),
        )
    return Inputs(init=init, original=original, mask=mask, blurred_mask=blurred, crop_box=box, extra_params=params)


def crop_to(image: Image.Image, box: tuple[int, int, int, int], width: int, height: int) -> Image.Image:
    return image.crop(box).resize((width, height), Image.Resampling.LANCZOS)


def compose(image: Image.Image, inputs: Inputs) -> Image.Image:
    """An inpainting result pasted over the original through the blurred mask, as the WebUI composes it."""
    assert inputs.original is not None and inputs.blurred_mask is not None
    image = image.convert("RGB")
    if inputs.crop_box is not None:
        x1, y1, x2, y2 = inputs.crop_box
        canvas = inputs.original.copy()
        canvas.paste(image.resize((x2 - x1, y2 - y1), Image.Resampling.LANCZOS), (x1, y1))
        image = canvas
    return Image.composite(image, inputs.original, inputs.blurred_mask)


def task_of(base: Any, inputs: Inputs) -> str:
    """The diffusers pipeline kind of a job: "Pipeline" (txt2img), "Img2ImgPipeline" or "InpaintPipeline"."""
    if base.unet.config.in_channels != 4 and inputs.mask is None:
        raise InvalidJob("this checkpoint is an inpainting model: use img2img with a mask", "override_settings")
    if inputs.mask is not None:
        return "InpaintPipeline"
    return "Img2ImgPipeline" if inputs.init is not None else "Pipeline"


def task_pipeline(
    base: Any, suffix: str, units: list[PreparedUnit], nets: list[Any], cfg_batch: bool, **components: Any
) -> Any:
    """The diffusers pipeline class for txt2img / img2img / inpaint (`task_of`), with or without ControlNet."""
    import diffusers

    sdxl = getattr(base, "text_encoder_2", None) is not None
    prefix = "StableDiffusionXL" if sdxl else "StableDiffusion"
    if units:
        multi = UnitControlNets(nets, [u.unit.control_mode for u in units], cfg_batch)
        pipe = getattr(diffusers, f"{prefix}ControlNet{suffix}").from_pipe(
            base, controlnet=multi, dtype=base.dtype, **components
        )
    else:
        # dtype: without it from_pipe moves every shared module to float32, in place (diffusers 0.42)
        pipe = getattr(diffusers, prefix + suffix).from_pipe(base, dtype=base.dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def seeds_of(payload: GenerationPayload) -> list[int]:
    """seed, seed+1, ... for batch_size x n_iter images; -1 draws a random seed, as the WebUI does."""
    seed = payload.seed if payload.seed != -1 else random.randrange(2**32)
    return [(seed + i) % 2**32 for i in range(payload.batch_size * payload.n_iter)]


def call_kwargs(
    pipe: Any,
    payload: GenerationPayload,
    inputs: Inputs,
    units: list[PreparedUnit],
    embeds: dict[str, torch.Tensor],
    seeds: list[int],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        **embeds,
        "num_inference_steps": payload.steps,
        "guidance_scale": payload.cfg_scale,
        "num_images_per_prompt": len(seeds),
        "generator": generators(seeds),
        "output_type": "pil",
    }
    if inputs.init is None:
        kwargs.update(width=payload.width, height=payload.height)
    else:
        kwargs.update(image=inputs.init, strength=payload.denoising_strength)
    if inputs.mask is not None:
        assert isinstance(payload, Img2ImgPayload)
        kwargs.update(mask_image=inputs.mask, width=payload.width, height=payload.height)
    if units:
        images = [u.control_image for u in units]
        if inputs.crop_box is not None:  # the control maps follow the "only masked" crop
            images = [crop_to(im, inputs.crop_box, payload.width, payload.height) for im in images]
        kwargs.update(control_kwargs(units, images, "control_image" if inputs.init is not None else "image"))
    return kwargs


def control_kwargs(units: list[PreparedUnit], images: list[Image.Image], image_key: str) -> dict[str, Any]:
    return {
        image_key: images,
        "controlnet_conditioning_scale": [u.unit.weight for u in units],
        "control_guidance_start": [u.unit.guidance_start for u in units],
        "control_guidance_end": [u.unit.guidance_end for u in units],
    }


def generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def encode(base: Any, prompt: str, negative: str, clip_skip: int, runner: Runner) -> dict[str, torch.Tensor]:
    fast_modules = getattr(runner, "fast_modules", None)  # the fast runner replays the text encoders too
    with fast_modules(base) if fast_modules else contextlib.nullcontext():
        return encode_prompts(base, prompt, negative, clip_skip)


def generate(
    base: Any,
    payload: GenerationPayload,
    inputs: Inputs,
    units: list[PreparedUnit],
    nets: list[Any],
    clip_skip: int,
    seeds: list[int],
    runner: Runner,
    hires: HiresPass | None = None,
    refiner: Refiner | None = None,
) -> list[Image.Image]:
    """All images of the job, n_iter batches of batch_size, in seed order. With the hires fix the refiner
    takes part in its second pass only (the WebUI's default `hires_fix_refiner_pass`)."""
    cfg = payload.cfg_scale > 1
    first = [(u, net) for u, net in zip(units, nets, strict=True) if u.applies(False if hires else None)]
    pipe = task_pipeline(base, task_of(base, inputs), [u for u, _ in first], [n for _, n in first], cfg)
    embeds = encode(base, payload.prompt, payload.negative_prompt, clip_skip, runner)
    first_runner = runner
    if refiner is not None and hires is None:
        attach(pipe, refiner, encode(refiner.base, payload.prompt, payload.negative_prompt, clip_skip, runner), cfg)
        first_runner = run_pipeline  # graphs replayed by a faster runner would not see the switch
    second = hires.prepare(payload, units, nets, clip_skip, runner, refiner) if hires else None
    images: list[Image.Image] = []
    for start in range(0, len(seeds), payload.batch_size):
        batch = seeds[start : start + payload.batch_size]
        kwargs = call_kwargs(pipe, payload, inputs, [u for u, _ in first], embeds, batch)
        if hires is not None:
            kwargs["output_type"] = "latent" if hires.plan.upscaler.kind == "latent" else "pil"
        out = first_runner(pipe, kwargs)
        if len(out) != len(batch):
            raise RuntimeError(f"the runner returned {len(out)} images for a batch of {len(batch)}")
        images.extend(second.run(out, batch) if second else out)
    if inputs.blurred_mask is not None:
        images = [compose(img, inputs) for img in images]
    return images
