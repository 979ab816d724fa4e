"""Live previews of the denoising: the first image's latents mapped to RGB by a linear approximation (the
WebUI's "Approx cheap"; the factors are those ComfyUI uses), a small JPEG.

On the device that is one tiny product and a copy into pinned host memory, queued behind the step that made
the latents, so the denoising loop never waits for it; the watcher thread waits for the copy and encodes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from inference_image.checkpoints import pipeline_arch

LATENT_RGB = {  # one row per latent channel: its weight in R, G, B
    "sd15": ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721),
             (-0.2120, -0.2616, -0.7177)),
    "sdxl": ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
             (-0.3165, -0.2492, -0.2188)),
}
LATENT_BIAS = {"sd15": (0.0, 0.0, 0.0), "sdxl": (0.1084, -0.0175, -0.0011)}
PREVIEW_SIDE = 256  # the longer side of the JPEG


@dataclass(frozen=True)
class Preview:
    step: int  # the job's step it shows
    pixels: torch.Tensor  # (height, width, 3) uint8 on the host
    copied: Any = None  # the CUDA event after the copy to the host; None: already there


def capture(pipe: Any, latents: torch.Tensor, step: int) -> Preview:
    arch = pipeline_arch(pipe)
    factors = torch.tensor(LATENT_RGB[arch], device=latents.device, dtype=latents.dtype)
    bias = torch.tensor(LATENT_BIAS[arch], device=latents.device, dtype=latents.dtype)
    rgb = torch.einsum("chw,cr->hwr", latents[0, :4], factors) + bias
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8)
    if pixels.device.type != "cuda":
        return Preview(step, pixels.cpu())
    host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(pixels, non_blocking=True)
    copied = torch.cuda.Event()
    copied.record()
    return Preview(step, host, copied)


def jpeg(preview: Preview) -> bytes:
    if preview.copied is not None:
        preview.copied.synchronize()
    image = Image.fromarray(preview.pixels.numpy())
    scale = PREVIEW_SIDE / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
