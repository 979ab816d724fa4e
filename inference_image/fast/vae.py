"""The VAE in half precision where it allows it, as the WebUI runs it.

diffusers moves a half-precision VAE whose config says `force_upcast` (SDXL's) to float32 for every
decode and back after it: that re-allocates its weights, which the fast path's graphs and artifacts hold,
and decodes at float32 speed. The WebUI instead decodes in half precision and, where that gives NaN or
inf (SDXL's original VAE overflows; the fp16-fix VAE users pick does not), decodes again in float32 and
keeps that VAE in float32 from then on ("Automatically revert VAE to 32-bit floats", on by default).
`HalfVae` does the same within a fast call: the pipeline sees `force_upcast` off, the decoder replays
its half-precision graph, and the float32 fallback is a copy of the VAE made once, its decoder graphed
(and compiled) like any other module. The encoder (img2img, inpainting) gets the same fallback, eagerly.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch

log = logging.getLogger(__name__)

Fn = Callable[..., Any]


def upcasts(vae: Any) -> bool:
    """Whether diffusers would move this VAE to float32 for each decode."""
    config = getattr(vae, "config", None)
    return bool(getattr(config, "force_upcast", False)) and getattr(vae, "dtype", None) == torch.float16


class HalfVae:
    """One VAE's precision state on the fast path; `always_full` is the `vae_decode="float32"` option."""

    def __init__(self, always_full: bool = False) -> None:
        self.needs_full = always_full
        self._full: Any = None

    def full(self, vae: Any) -> Any:
        """The float32 copy of `vae`, made at first need (the half-precision one stays as it is)."""
        if self._full is None:
            full = copy.deepcopy(vae).to(torch.float32)
            for module in full.modules():  # the copy is made within a fast call: drop the replaced forwards
                vars(module).pop("forward", None)
            self._full = full
        return self._full

    @contextlib.contextmanager
    def no_upcast(self, vae: Any) -> Iterator[None]:
        """Within the block the pipeline leaves `vae` in half precision."""
        saved = vae._internal_dict
        vae.register_to_config(force_upcast=False)
        try:
            yield
        finally:
            vae._internal_dict = saved

    def guarded(self, half: Fn, full: Callable[[], Fn], part: str) -> Fn:
        """`half(x)` if it is finite, else (and from then on) `full()(x in float32)` cast back."""

        def call(sample: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if not self.needs_full:
                out = half(sample, *args, **kwargs)
                if bool(torch.isfinite(out).all()):
                    return out
                log.warning("the VAE %s gave NaN/inf in float16: it runs in float32 from now on", part)
                self.needs_full = True
            return full()(sample.float(), *args, **kwargs).to(sample.dtype)

        return call
