"""Pixel upscalers of the hires fix, as the WebUI's images.resize_image and modules/upscaler*.py run them:
"None" (a Lanczos resize), "Lanczos" and "Nearest", and ESRGAN-family models loaded with spandrel, run on
BGR tiles of 192 pixels overlapping by 8 (the WebUI's ESRGAN_tile and ESRGAN_tile_overlap defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from api_schema.upscalers import Upscaler
from inference_image.checkpoints import load_state_dict
from inference_image.errors import ModelLoadError

TILE, TILE_OVERLAP = 192, 8
Step = Callable[[Image.Image, float], Image.Image]


def load_upscaler(path: Path, device: str, allow_pickle: bool) -> Any:
    """A spandrel ImageModelDescriptor of a super-resolution model file, on `device`, in eval mode."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    state = load_state_dict(path, allow_pickle)
    try:
        model = ModelLoader(device=torch.device(device)).load_from_state_dict(state)
    except (UnsupportedModelError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"{path.name} is not an upscaler model spandrel recognises ({exc})") from exc
    if not isinstance(model, ImageModelDescriptor) or model.purpose != "SR":
        raise ModelLoadError(f"{path.name} is a {model.architecture.name} model, not a super-resolution upscaler")
    if device == "cuda" and model.supports_half:
        model.half()
    return model.eval()


def _to_bgr_tensor(image: Image.Image, like: torch.Tensor) -> torch.Tensor:
    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1].transpose(2, 0, 1)) / 255
    return torch.from_numpy(pixels).unsqueeze(0).to(device=like.device, dtype=like.dtype)


def _from_bgr_tensor(tensor: torch.Tensor) -> Image.Image:
    pixels = (tensor[0].float().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(pixels[::-1].transpose(1, 2, 0)), "RGB")


def model_step(model: Any) -> Step:
    """One pass of the model over the image, in overlapping tiles averaged where they overlap."""

    def step(image: Image.Image, _scale: float) -> Image.Image:
        param = next(model.model.parameters())
        source = _to_bgr_tensor(image, param)
        _, _, height, width = source.shape
        scale = model.scale
        out = torch.zeros(1, 3, height * scale, width * scale, dtype=torch.float32)
        weight = torch.zeros_like(out)
        stride = TILE - TILE_OVERLAP
        with torch.inference_mode():
            for top in sorted({*range(0, max(height - TILE, 0), stride), max(height - TILE, 0)}):
                for left in sorted({*range(0, max(width - TILE, 0), stride), max(width - TILE, 0)}):
                    tile = source[:, :, top : top + TILE, left : left + TILE]
                    result = model(tile).float().cpu()
                    rows, cols = slice(top * scale, top * scale + result.shape[2]), slice(
                        left * scale, left * scale + result.shape[3]
                    )
                    out[:, :, rows, cols] += result
                    weight[:, :, rows, cols] += 1
        return _from_bgr_tensor(out / weight.clamp(min=1))

    return step


def _resize_step(resample: Image.Resampling) -> Step:
    return lambda image, scale: image.resize((int(image.width * scale), int(image.height * scale)), resample=resample)


def _upscale(image: Image.Image, scale: float, step: Step) -> Image.Image:
    """The WebUI's Upscaler.upscale: up to three steps until the size, multiple of 8, is reached."""
    dest_w, dest_h = int((image.width * scale) // 8 * 8), int((image.height * scale) // 8 * 8)
    for attempt in range(3):
        if image.width >= dest_w and image.height >= dest_h and (attempt > 0 or scale != 1):
            break
        size = image.size
        image = step(image, scale)
        if image.size == size:
            break
    if image.size != (dest_w, dest_h):
        image = image.resize((dest_w, dest_h), resample=Image.Resampling.LANCZOS)
    return image


def upscale_image(image: Image.Image, width: int, height: int, upscaler: Upscaler, model: Any = None) -> Image.Image:
    """`images.resize_image(0, image, width, height, upscaler_name)`: `model` is the loaded upscaler model when
    `upscaler` names one."""
    if upscaler.name != "None":
        scale = max(width / image.width, height / image.height)
        if scale > 1.0:
            if upscaler.kind == "model":
                step = model_step(model)
            else:
                nearest = upscaler.name == "Nearest"
                step = _resize_step(Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS)
            image = _upscale(image, scale, step)
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.Resampling.LANCZOS)
    return image
