"""The images of an img2img / inpaint job, sized to the output: the init image, the mask (blurred, filled,
"only masked" crop) and how an inpainting result is pasted back, as the WebUI prepares them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from api_schema.payload import GenerationPayload, Img2ImgPayload
from inference_image.errors import InvalidJob
from inference_image.images import decode_image, decode_mask, resize

IMG2IMG_RESIZE = {0: "Just Resize", 1: "Crop and Resize", 2: "Resize and Fill", 3: "Just Resize"}


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
