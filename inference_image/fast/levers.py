"""Speed levers applied to a UNet before it is graphed or compiled (issue 18), in the serving process and,
the same way, in the child process that builds its artifact (an artifact reads the weights by the paths the
levers create, so both sides must agree; the levers are part of the artifact's key, `aot.BuildOptions`).

- `fuse_qkv`: one matrix product for q, k and v of each self-attention (k and v of each cross-attention),
  diffusers' `fuse_qkv_projections`, made LoRA-aware: `to_q`, `to_k` and `to_v` keep their weights as
  views into the fused matrix, so a LoRA fused into them in place (`pipe.fuse_lora`, peft's merge) reaches
  the fused projection too, and unfusing restores both. Where the views were broken (a merge that
  re-allocates), the fused matrix is rebuilt from them before the next call.
- `precision="fp8"`: the UNet's large linear layers in float8 (`fp8.Float8Linear`: weights quantized once,
  activations on each call, per-tensor scales). Quality-changing, hence an explicit option
  (`InferenceSettings.fast_precision`); the float8 weights replace the half-precision ones, so such a UNet takes
  no LoRA (`is_fp8`).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from inference_image.fast.aot import BuildOptions

log = logging.getLogger(__name__)

PRECISIONS = ("default", "fp8")


def applies(module: torch.nn.Module) -> bool:
    """The levers act on UNets only (ControlNets, VAEs and text encoders keep their defaults)."""
    return type(module).__name__ == "UNet2DConditionModel"


def effective(options: BuildOptions, module: torch.nn.Module) -> BuildOptions:
    """`options` as they apply to `module`: a module the levers leave alone shares the default artifacts, and
    fp8 falls back to the default precision on a GPU without float8 tensor cores."""
    import dataclasses

    if not applies(module):
        return dataclasses.replace(options, fuse_qkv=False, precision="default")
    if options.precision == "fp8" and not _fp8_on(next(module.parameters()).device):
        return dataclasses.replace(options, precision="default")
    return options


@functools.cache
def _fp8_on(device: torch.device) -> bool:
    from inference_image.fast import fp8

    if fp8.supported(device):
        return True
    log.warning("fp8 needs float8 tensor cores (compute capability 8.9+): the UNet keeps its precision on %s", device)
    return False


def apply(module: torch.nn.Module, options: BuildOptions) -> None:
    """Apply the levers of `options` to `module` in place (idempotent)."""
    options = effective(options, module)
    if options.fuse_qkv:
        fuse_qkv(module)
    if options.precision == "fp8" and not is_fp8(module):
        quantize_fp8(module)
        module._sdcloud_fp8 = True  # type: ignore[assignment]


def _attentions(module: torch.nn.Module) -> list[Any]:
    from diffusers.models.attention_processor import Attention

    return [m for m in module.modules() if isinstance(m, Attention)]


def _base(linear: torch.nn.Module) -> Any:
    """The linear layer under a peft LoRA wrapper, or the layer itself."""
    get = getattr(linear, "get_base_layer", None)
    return get() if callable(get) else linear


def _parts(attention: Any) -> tuple[str, list[str]]:
    if attention.is_cross_attention:
        return "to_kv", ["to_k", "to_v"]
    return "to_qkv", ["to_q", "to_k", "to_v"]


def _views_intact(attention: Any) -> bool:
    fused_name, names = _parts(attention)
    fused = getattr(attention, fused_name, None)
    if fused is None:
        return False
    offset = 0
    for name in names:
        weight = _base(getattr(attention, name)).weight
        if weight.data_ptr() != fused.weight.data_ptr() + offset * fused.weight.element_size():
            return False
        offset += weight.numel()
    return True


def fuse_qkv(module: torch.nn.Module) -> None:
    """Fused projections whose parts stay views of the fused weights; the fused attention processors."""
    from diffusers.models.attention_processor import FusedAttnProcessor2_0

    changed = False
    for attention in _attentions(module):
        if attention.use_bias or _views_intact(attention):
            continue
        attention.fuse_projections(fuse=True)  # concatenates the current weights into a new matrix
        fused_name, names = _parts(attention)
        fused = getattr(attention, fused_name).weight
        offset = 0
        for name in names:
            weight = _base(getattr(attention, name)).weight
            rows = weight.shape[0]
            weight.data = fused.data[offset : offset + rows]
            offset += rows
        changed = True
    if changed or not getattr(module, "_sdcloud_fused_qkv", False):
        if not getattr(module, "_sdcloud_fused_qkv", False):
            module._sdcloud_original_processors = module.attn_processors
        module.set_attn_processor(FusedAttnProcessor2_0())  # type: ignore[operator]
        module._sdcloud_fused_qkv = True  # type: ignore[assignment]


def unfuse_qkv(module: torch.nn.Module) -> None:
    """The separate projections again (they hold the same weights): for a plain call with unfused LoRAs,
    whose adapters sit on to_q, to_k and to_v."""
    if getattr(module, "_sdcloud_fused_qkv", False):
        module.set_attn_processor(module._sdcloud_original_processors)  # type: ignore[operator]
        module._sdcloud_fused_qkv = False  # type: ignore[assignment]


def is_fp8(module: torch.nn.Module) -> bool:
    return bool(getattr(module, "_sdcloud_fp8", False))


def quantize_fp8(module: torch.nn.Module) -> None:
    """The linear layers over the image tokens in float8: not the time embeddings (2 rows), not the
    cross-attention's keys and values (77 rows), not the parts of fused projections (unused once fused)."""
    from inference_image.fast import fp8

    unused = {
        f"{name}.{part}"
        for name, sub in module.named_modules()
        if hasattr(sub, "to_qkv") or hasattr(sub, "to_kv")
        for part in (("to_q", "to_k", "to_v") if hasattr(sub, "to_qkv") else ("to_k", "to_v"))
    }

    def wanted(linear: torch.nn.Linear, name: str) -> bool:
        if name in unused or "lora_" in name:
            return False
        last = name.rsplit(".", 1)[-1]
        if "embedding" in name or "time_emb" in name or last == "to_kv":
            return False
        if ".attn2." in f".{name}" and last in ("to_k", "to_v"):
            return False
        return linear.in_features % 16 == 0 and linear.out_features % 16 == 0  # what _scaled_mm takes

    fp8.quantize(module, wanted)


def configure_inductor(tuning: str) -> None:
    """Inductor's tuning for a build: "default", "cdt" (coordinate-descent tuning of each Triton kernel's
    launch) or "max-autotune" (GEMM/conv templates benchmarked, without Inductor's own CUDA graphs)."""
    import torch._inductor.config as inductor_config

    if tuning == "cdt":
        inductor_config.coordinate_descent_tuning = True
    elif tuning == "max-autotune":
        inductor_config.max_autotune = True
        inductor_config.coordinate_descent_tuning = True
    elif tuning != "default":
        raise ValueError(f"unknown tuning {tuning!r}")
