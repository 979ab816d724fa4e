"""Random-weight Stable Diffusion pipelines built from configs alone (no hub): "sd15" has SD 1.5's
architecture (same cost as the real model), "tiny" is for CPU tests."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch

Arch = Literal["sd15", "tiny"]

_SD15 = {
    "unet": {
        "block_out_channels": (320, 640, 1280, 1280),
        "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        "layers_per_block": 2,
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
        "sample_size": 64,
    },
    "controlnet": {"conditioning_embedding_out_channels": (16, 32, 96, 256)},
    "vae": {
        "block_out_channels": (128, 256, 512, 512),
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "layers_per_block": 2,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 512,
        "scaling_factor": 0.18215,
    },
    "text": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
    },
}

_TINY = {
    "unet": {
        "block_out_channels": (32, 64),
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "layers_per_block": 1,
        "cross_attention_dim": 32,
        "attention_head_dim": 4,
        "norm_num_groups": 8,
        "sample_size": 8,
    },
    "controlnet": {"conditioning_embedding_out_channels": (8, 16)},
    "vae": {
        "block_out_channels": (16, 32),
        "down_block_types": ("DownEncoderBlock2D",) * 2,
        "up_block_types": ("UpDecoderBlock2D",) * 2,
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 8,
        "sample_size": 16,
        "scaling_factor": 0.18215,
    },
    "text": {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
    },
}


def letter_tokenizer() -> Any:
    """A CLIP tokenizer over single letters: real tokenization cost, no hub download."""
    from transformers import CLIPTokenizer

    letters = string.ascii_lowercase
    tokens = ["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)]
    folder = Path(tempfile.mkdtemp(prefix="letter-tokenizer-"))
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def scheduler() -> Any:
    """DPM++ 2M Karras, the WebUI's default sampler."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        algorithm_type="dpmsolver++",
        use_karras_sigmas=True,
    )


def build_pipeline(
    arch: Arch,
    controlnets: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Any:
    """A txt2img pipeline (or a ControlNet one with `controlnets` distinct random units)."""
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        StableDiffusionControlNetPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg: dict[str, dict[str, Any]] = _SD15 if arch == "sd15" else _TINY  # type: ignore[assignment]
    tokenizer = letter_tokenizer()
    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel(**cfg["unet"])
        vae = AutoencoderKL(**cfg["vae"])
        text_config = CLIPTextConfig(
            vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=1, **cfg["text"]
        )
        text_encoder = CLIPTextModel(text_config)
        nets = [ControlNetModel.from_unet(unet, **cfg["controlnet"]) for _ in range(controlnets)]
        nets = [_random_controlnet(net) for net in nets]
    parts: dict[str, Any] = {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": unet,
        "scheduler": scheduler(),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    pipe: Any
    if nets:
        pipe = StableDiffusionControlNetPipeline(controlnet=nets if len(nets) > 1 else nets[0], **parts)
    else:
        pipe = StableDiffusionPipeline(**parts)
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _random_controlnet(net: Any) -> Any:
    """ControlNets start with zero output convolutions; give them small random weights so that a
    unit changes the image (a wrong unit in the fast path then shows in the comparison)."""
    with torch.no_grad():
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            for p in block.parameters():
                p.normal_(0.0, 0.02)
    return net


def control_image(height: int, width: int, seed: int = 0) -> Any:
    """A deterministic edge-like control image (PIL)."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(height, width, 3, generator=g) > 0.9).to(torch.uint8) * 255
    return Image.fromarray(pixels.numpy())


def write_sd15_checkpoint(path: Path, device: str = "cuda", seed: int = 0) -> Path:
    """A 2 GB fp16 SD 1.5-architecture checkpoint with random weights in the WebUI single-file layout
    (what users upload), for measuring a start from local disk through the container's loader."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from inference_image.ldm_layout import checkpoint_to_ldm

    cfg: dict[str, dict[str, Any]] = _SD15  # type: ignore[assignment]
    torch.manual_seed(seed)
    with torch.device(device):
        unet: Any = UNet2DConditionModel(**cfg["unet"])
        vae: Any = AutoencoderKL(**cfg["vae"])
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, **cfg["text"]))

    def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(torch.float16).cpu().contiguous() for k, v in state.items()}

    tensors = checkpoint_to_ldm(half(unet.state_dict()), half(vae.state_dict()), half(text.state_dict()), 4, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
