"""Which modules of a pipeline the fast runner replays, and how it stands them in for their forwards: the
heavy parts (UNet, ControlNets, VAE decoder, text encoders), their weights' fingerprint, and peft's LoRA
layers seen without importing peft."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from inference_image.fast.graphs import GraphedForward


def heavy_parts(pipe: Any) -> dict[str, tuple[torch.nn.Module, Any, str]]:
    """name -> (module, owner, attribute): the owner's config rebuilds the module (`aot.Recipe`)."""
    parts: dict[str, tuple[torch.nn.Module, Any, str]] = {}
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        parts["unet"] = (unet, unet, "")
    controlnet = getattr(pipe, "controlnet", None)
    if controlnet is not None:
        nets = getattr(controlnet, "nets", [controlnet])
        for net in nets:
            # two units may share one model: wrap it once
            if all(net is not part[0] for part in parts.values()):
                parts[f"controlnet_{len(parts) - 1}"] = (net, net, "")
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "decoder"):
        parts["vae_decoder"] = (vae.decoder, vae, "decoder")
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, name, None)
        # a text-encoder LoRA is never fused (only the UNet's are): such an encoder runs as it is
        if isinstance(encoder, torch.nn.Module) and not has_unfused_lora(encoder):
            parts[name] = (encoder, encoder, "")
    return parts


@contextlib.contextmanager
def forwards_replaced(replacements: dict[torch.nn.Module, GraphedForward]) -> Iterator[None]:
    for module, wrapper in replacements.items():
        module.forward = wrapper
    try:
        yield
    finally:
        for module in replacements:
            vars(module).pop("forward", None)


def weights_fingerprint(module: torch.nn.Module) -> int:
    """The base weights' addresses, which the graphs hold. LoRA adapter weights are left out: a fused
    LoRA is added into the base weights in place, so the graphs stay valid (no recapture, no compile),
    and unfused ones send the call to the plain path."""
    tensors = [*module.named_parameters(), *module.named_buffers()]  # float8 weights are buffers (`fp8.py`)
    return hash(tuple(t.data_ptr() for name, t in tensors if "lora_" not in name))


def has_unfused_lora(module: torch.nn.Module) -> bool:
    for sub in module.modules():
        # peft's BaseTunerLayer, without importing peft
        if not (hasattr(sub, "merged") and hasattr(sub, "active_adapters")):
            continue
        if sub.active_adapters and not sub.merged and not getattr(sub, "disable_adapters", False):
            return True
    return False
