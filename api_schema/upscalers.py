"""Hires fix upscaler names as the WebUI takes them (stdlib only: the clients import this too).

`hr_upscaler` is one of the Latent family (an interpolation of the latents, no weights), one of the
built-in pixel upscalers ("None", "Lanczos", "Nearest"), or the name of an uploaded `upscaler` model
(an ESRGAN-family network). Left out (null), the WebUI uses "Latent".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# name -> (torch.nn.functional.interpolate mode, antialias), as the WebUI's shared.latent_upscale_modes.
LATENT_UPSCALE_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
DEFAULT_LATENT_UPSCALER = "Latent"
PIXEL_UPSCALERS: tuple[str, ...] = ("None", "Lanczos", "Nearest")

UpscalerKind = Literal["latent", "pixel", "model"]


@dataclass(frozen=True)
class Upscaler:
    kind: UpscalerKind
    name: str  # the canonical spelling of a built-in, else the model name as given


def parse_upscaler(name: str | None) -> Upscaler:
    """What an `hr_upscaler` value names; built-in names match in any case, anything else is a model name."""
    if name is None:
        return Upscaler("latent", DEFAULT_LATENT_UPSCALER)
    text = name.strip()
    if not text:
        raise ValueError("hr_upscaler must not be empty (leave it out for 'Latent')")
    for kind, names in (("latent", tuple(LATENT_UPSCALE_MODES)), ("pixel", PIXEL_UPSCALERS)):
        for known in names:
            if known.lower() == text.lower():
                return Upscaler(kind, known)  # type: ignore[arg-type]
    return Upscaler("model", text)
