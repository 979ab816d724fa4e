"""Tiny random-weight models in the file formats users upload, for tests and the local demo.

The checkpoint has the SD 1.5 architecture (4 UNet levels, 2 layers each, CLIP text encoder with the
real 49408-token vocabulary) at tiny widths, so it goes through exactly the loading and generation code
of a real model and a 64x64 image takes well under a second on a CPU. `write_sdxl_sample_models` writes
an SDXL-architecture checkpoint and ControlNet the same way.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import torch

from sdcloud_tools.ldm_layout import checkpoint_to_ldm, controlnet_to_ldm, vae_to_ldm

LEVELS, LAYERS = 4, 2
WIDTH = 32
TEXT_WIDTH = 32
LORA_RANK = 4
EMBEDDING_VECTORS = 2
_SEED = 1234

UNET_CONFIG: dict[str, Any] = {
    "block_out_channels": [WIDTH] * LEVELS,
    "layers_per_block": LAYERS,
    "down_block_types": ["CrossAttnDownBlock2D"] * (LEVELS - 1) + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (LEVELS - 1),
    "cross_attention_dim": TEXT_WIDTH,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "sample_size": 8,
}
VAE_CONFIG: dict[str, Any] = {
    "block_out_channels": [WIDTH] * LEVELS,
    "layers_per_block": LAYERS,
    "down_block_types": ["DownEncoderBlock2D"] * LEVELS,
    "up_block_types": ["UpDecoderBlock2D"] * LEVELS,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 64,
}
TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": TEXT_WIDTH,
    "intermediate_size": 2 * TEXT_WIDTH,
    "num_hidden_layers": 4,
    "num_attention_heads": 1,
    "projection_dim": TEXT_WIDTH,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
}
# SDXL at tiny widths: 3 UNet levels, no attention in the first, 1/2/3 transformer layers in the others (the
# shipped config has 1/2/10); the UNet's context is both text encoders' widths together. What the loader does
# not read from the file stays as shipped: 32 norm groups, 64-wide attention heads (one head below 64), the
# 256-wide size embeddings and the activations. The text encoders' widths must differ: diffusers picks
# the first encoder's weights for the second when their widths match.
XL_TEXT_CONFIG: dict[str, Any] = {**TEXT_CONFIG, "num_hidden_layers": 2}
XL_TEXT_2_CONFIG: dict[str, Any] = {
    **XL_TEXT_CONFIG,
    "hidden_size": 2 * TEXT_WIDTH,
    "intermediate_size": 4 * TEXT_WIDTH,
    "projection_dim": 48,
    "hidden_act": "gelu",
}
XL_UNET_CONFIG: dict[str, Any] = {
    "block_out_channels": [WIDTH, 2 * WIDTH, 2 * WIDTH],
    "layers_per_block": LAYERS,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "transformer_layers_per_block": [1, 2, 3],
    "cross_attention_dim": XL_TEXT_CONFIG["hidden_size"] + XL_TEXT_2_CONFIG["hidden_size"],
    "attention_head_dim": [1, 1, 1],
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": XL_TEXT_2_CONFIG["projection_dim"] + 6 * 256,
    "norm_num_groups": 32,
    "sample_size": 8,
}
XL_REGISTRATION: dict[str, tuple[str, str]] = {
    "checkpoint": ("checkpoint", "tiny-sdxl"),
    "controlnet": ("controlnet", "tiny-sdxl-controlnet"),
}
# Annotators: the openpose networks at tiny widths (the loader reads widths from the file).
OPENPOSE_WIDTH = 8

# How to register each sample: model type and name (annotators must carry the names the server looks up).
REGISTRATION: dict[str, tuple[str, str]] = {
    "checkpoint": ("checkpoint", "tiny-sd15"),
    "controlnet": ("controlnet", "tiny-controlnet"),
    "vae": ("vae", "tiny-vae"),
    "lora": ("lora", "tiny-lora"),
    "embedding": ("embedding", "tiny-embedding"),
    "openpose_body": ("annotator", "body_pose_model"),
    "openpose_hand": ("annotator", "hand_pose_model"),
    "upscaler": ("upscaler", "tiny-esrgan"),
}
# The upscaler: an ESRGAN (RRDBNet, x4) with one block of 8 filters, in the original ESRGAN key layout.
ESRGAN_FILTERS, ESRGAN_BLOCKS = 8, 1


def _randomize(module: torch.nn.Module, generator: torch.Generator, scale: float = 1.0) -> None:
    """Give every parameter (zero-initialised ones included, e.g. ControlNet zero convs) random values."""
    with torch.no_grad():
        for param in module.parameters():
            if param.ndim == 1 and param.numel() and torch.all(param == 1):
                continue  # norm scales stay 1 so activations keep a sane range
            param.copy_(torch.randn(param.shape, generator=generator) * scale / max(1, param[0].numel()) ** 0.5)


def _save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    # One metadata entry at most: safetensors writes several in no fixed order, and the files must not vary.
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def _components(generator: torch.Generator) -> tuple[Any, Any, Any]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet: Any = UNet2DConditionModel(**UNET_CONFIG)
    vae: Any = AutoencoderKL(**VAE_CONFIG)
    text: Any = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    for module in (unet, vae, text):
        _randomize(module, generator)
    return unet, vae, text


def sdxl_components(generator: torch.Generator | None = None) -> tuple[Any, Any, Any, Any]:
    """The tiny SDXL's UNet, VAE (SD 1.5's sample VAE architecture, as in SDXL) and two text encoders; random
    weights from `generator` if given, else as the constructors initialise them."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    unet: Any = UNet2DConditionModel(**XL_UNET_CONFIG)
    vae: Any = AutoencoderKL(**VAE_CONFIG)
    text: Any = CLIPTextModel(CLIPTextConfig(**XL_TEXT_CONFIG))
    text_2: Any = CLIPTextModelWithProjection(CLIPTextConfig(**XL_TEXT_2_CONFIG))
    if generator is not None:
        for module in (unet, vae, text, text_2):
            _randomize(module, generator)
    return unet, vae, text, text_2


def _kohya_lora(unet: torch.nn.Module, text: torch.nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A LoRA in the Kohya/WebUI layout: lora_unet_* and lora_te_* keys with lora_down, lora_up and alpha."""
    tensors: dict[str, torch.Tensor] = {}
    unet_suffixes = tuple(f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0"))
    te_suffixes = tuple(f"self_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "out_proj"))
    targets = [("lora_unet_", n, m) for n, m in unet.named_modules() if n.endswith(unet_suffixes)]
    targets += [("lora_te_text_model_", n, m) for n, m in text.named_modules() if n.endswith(te_suffixes)]
    for prefix, name, module in targets:
        key = prefix + name.replace(".", "_")
        assert isinstance(module, torch.nn.Linear)
        tensors[f"{key}.lora_down.weight"] = torch.randn(LORA_RANK, module.in_features, generator=generator) * 0.3
        tensors[f"{key}.lora_up.weight"] = torch.randn(module.out_features, LORA_RANK, generator=generator) * 0.3
        tensors[f"{key}.alpha"] = torch.tensor(float(LORA_RANK))
    return tensors


def _openpose_model_module() -> Any:
    """controlnet_aux's open_pose/model.py alone: importing the package would load every annotator's
    dependencies (timm, scikit-image...), seconds that the demo's sample step need not pay."""
    spec = importlib.util.find_spec("controlnet_aux")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("controlnet_aux is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "open_pose" / "model.py"
    module_spec = importlib.util.spec_from_file_location("_sdcloud_openpose_model", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _openpose_weights(kind: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The openpose body or hand network cut down in width, in the original file's key layout."""
    model = _openpose_model_module()
    with torch.device("meta"):
        skeleton = model.bodypose_model() if kind == "body" else model.handpose_model()
    # Input, PAF and heatmap channels keep their size; a stage's input is the maps plus the features.
    stage_input = {185: 38 + 19, 150: 22}

    def width(channels: int) -> int:
        if channels in (3, 38, 19, 22):
            return channels
        return stage_input.get(channels, 0) + OPENPOSE_WIDTH

    tensors: dict[str, torch.Tensor] = {}
    for _, block in skeleton.named_children():
        for name, layer in block.named_children():
            if isinstance(layer, torch.nn.Conv2d):
                out_c, in_c, k, _ = layer.weight.shape
                out_c, in_c = width(out_c), width(in_c)
                std = (2.0 / (in_c * k * k)) ** 0.5
                tensors[f"{name}.weight"] = torch.randn(out_c, in_c, k, k, generator=generator) * std
                tensors[f"{name}.bias"] = torch.randn(out_c, generator=generator) * 0.1
    return tensors


def _save_checkpoint(path: Path, *modules: Any) -> Path:
    """UNet, VAE and text encoder(s) (SD 1.5: one, SDXL: two) as one checkpoint in the WebUI layout."""
    return _save(path, checkpoint_to_ldm(*(module.state_dict() for module in modules)))


def write_checkpoint(path: Path, seed: int) -> Path:
    """Another tiny checkpoint of the sample's architecture, with other random weights (a refiner in tests)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    return _save_checkpoint(path, *_components(generator))


def _esrgan(generator: torch.Generator) -> dict[str, torch.Tensor]:
    from spandrel.architectures.ESRGAN import ESRGAN

    model = ESRGAN(num_filters=ESRGAN_FILTERS, num_blocks=ESRGAN_BLOCKS, scale=4)
    _randomize(model, generator, scale=0.5)
    return dict(model.state_dict())


def write_sample_models(directory: Path) -> dict[str, Path]:
    """Write the sample models into `directory` and return their paths by kind.

    Keys: checkpoint, controlnet, vae, lora, embedding, openpose_body, openpose_hand, upscaler (see REGISTRATION
    for the model type and name each one is registered under). Same bytes on every call.
    """
    from diffusers import ControlNetModel

    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(_SEED)
    torch.manual_seed(_SEED)  # module constructors draw their initial values from the global generator
    unet, vae, text = _components(generator)
    paths = {"checkpoint": _save_checkpoint(directory / "tiny-sd15.safetensors", unet, vae, text)}

    controlnet = ControlNetModel.from_unet(unet)
    _randomize(controlnet, generator, scale=0.5)
    paths["controlnet"] = _save(directory / "tiny-controlnet.safetensors", controlnet_to_ldm(controlnet.state_dict()))

    _, other_vae, _ = _components(generator)
    paths["vae"] = _save(directory / "tiny-vae.safetensors", vae_to_ldm(other_vae.state_dict()))
    paths["lora"] = _save(
        directory / "tiny-lora.safetensors",
        _kohya_lora(unet, text, generator),
        metadata={"ss_network_module": "networks.lora"},
    )
    paths["embedding"] = _save(
        directory / "tiny-embedding.safetensors",
        {"emb_params": torch.randn(EMBEDDING_VECTORS, TEXT_WIDTH, generator=generator)},
    )
    for kind in ("body", "hand"):
        path = directory / f"{kind}_pose_model.pth"
        torch.save(_openpose_weights(kind, generator), str(path))
        paths[f"openpose_{kind}"] = path
    paths["upscaler"] = _save(directory / "tiny-esrgan.safetensors", _esrgan(generator))
    (directory / "sample_models.json").write_text(json.dumps({k: v.name for k, v in paths.items()}, indent=2))
    return paths


def write_sdxl_sample_models(directory: Path) -> dict[str, Path]:
    """The tiny SDXL checkpoint and a ControlNet for it (keys: checkpoint, controlnet; see XL_REGISTRATION)."""
    from diffusers import ControlNetModel

    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(_SEED)
    torch.manual_seed(_SEED)
    unet, vae, text, text_2 = sdxl_components(generator)
    controlnet = ControlNetModel.from_unet(unet)
    _randomize(controlnet, generator, scale=0.5)
    return {
        "checkpoint": _save_checkpoint(directory / "tiny-sdxl.safetensors", unet, vae, text, text_2),
        "controlnet": _save(directory / "tiny-sdxl-controlnet.safetensors", controlnet_to_ldm(controlnet.state_dict())),
    }


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m sdcloud_tools.sample_models DIR")
    for key, path in write_sample_models(Path(sys.argv[1])).items():
        print(f"{key}\t{REGISTRATION[key][0]}\t{REGISTRATION[key][1]}\t{path}")
