"""Random-weight Stable Diffusion pipelines built from configs alone (no hub): "sd15" has SD 1.5's
architecture and "sdxl" SDXL's (the container's own `configs/sdxl`; same cost as the real models),
"tiny" and "tiny-xl" are their CPU-sized stand-ins for tests."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch

Arch = Literal["sd15", "tiny", "sdxl", "tiny-xl"]
XL_ARCHS = ("sdxl", "tiny-xl")

_SD15: dict[str, dict[str, Any]] = {
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

_TINY: dict[str, dict[str, Any]] = {
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

_TINY_XL: dict[str, dict[str, Any]] = {
    "unet": {
        "block_out_channels": (32, 64),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "layers_per_block": 1,
        "cross_attention_dim": 48,
        "attention_head_dim": (2, 4),
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 16 + 6 * 8,
        "transformer_layers_per_block": (1, 1),
        "use_linear_projection": True,
        "norm_num_groups": 8,
        "sample_size": 8,
    },
    "controlnet": {"conditioning_embedding_out_channels": (8, 16)},
    "vae": {**_TINY["vae"], "scaling_factor": 0.13025, "force_upcast": True},
    "text": {**_TINY["text"], "hidden_size": 32},
    "text_2": {**_TINY["text"], "hidden_size": 16, "projection_dim": 16, "hidden_act": "gelu"},
}


def _sdxl() -> dict[str, dict[str, Any]]:
    """SDXL's architecture as the container loads it (`inference_image/configs/sdxl`)."""
    from inference_image.checkpoints import CONFIGS

    folder = CONFIGS / "sdxl"

    def read(name: str) -> dict[str, Any]:
        config = json.loads((folder / name / "config.json").read_text())
        return {k: v for k, v in config.items() if not k.startswith("_") and k != "architectures"}

    text_keys = (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "max_position_embeddings",
        "hidden_act",
        "projection_dim",
    )
    unet, controlnet = read("unet"), read("controlnet")
    return {
        "unet": unet,
        "controlnet": {"conditioning_embedding_out_channels": controlnet["conditioning_embedding_out_channels"]},
        "vae": read("vae"),
        "text": {k: read("text_encoder")[k] for k in text_keys},
        "text_2": {k: read("text_encoder_2")[k] for k in text_keys},
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
    """A txt2img pipeline (or a ControlNet one with `controlnets` distinct random units); SD 1.5 or SDXL."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    xl = arch in XL_ARCHS
    cfg: dict[str, dict[str, Any]] = {"sd15": _SD15, "tiny": _TINY, "tiny-xl": _TINY_XL}.get(arch) or _sdxl()
    tokenizer = letter_tokenizer()

    def text_config(key: str) -> Any:
        return CLIPTextConfig(vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=1, **cfg[key])

    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel(**cfg["unet"])
        vae = AutoencoderKL(**cfg["vae"])
        text_encoder = CLIPTextModel(text_config("text"))
        nets = [ControlNetModel.from_unet(unet, **cfg["controlnet"]) for _ in range(controlnets)]
        nets = [_random_controlnet(net) for net in nets]
        parts: dict[str, Any] = {
            "vae": vae,
            "text_encoder": text_encoder,
            "tokenizer": tokenizer,
            "unet": unet,
        }
        if xl:
            parts.update(text_encoder_2=CLIPTextModelWithProjection(text_config("text_2")), tokenizer_2=tokenizer)
        else:
            parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    parts["scheduler"] = scheduler()  # outside the device block: its tables stay on the CPU
    pipe = assemble(parts, (nets if len(nets) > 1 else nets[0]) if nets else None)
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def assemble(parts: dict[str, Any], controlnet: Any = None) -> Any:
    """The diffusers txt2img pipeline of these components (SDXL's if there is a second text encoder), with
    `controlnet` (a model, a list or a MultiControlNetModel) if given."""
    import diffusers

    xl = parts.get("text_encoder_2") is not None
    kind = "ControlNet" if controlnet is not None else ""
    name = ("StableDiffusionXL" if xl else "StableDiffusion") + kind + "Pipeline"
    extra: dict[str, Any] = {"controlnet": controlnet} if controlnet is not None else {}
    if xl:  # no invisible-watermark package here, and none in the container's output
        extra["add_watermarker"] = False
    pipe = getattr(diffusers, name)(**parts, **extra)
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


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.to(torch.float16).cpu().contiguous() for k, v in state.items()}


def _save(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def checkpoint_modules(cfg: dict[str, dict[str, Any]]) -> list[Any]:
    """UNet, VAE and text encoder(s) of `cfg`'s architecture (SDXL's if it has a `text_2`) with the real
    49408-token vocabulary, on the current default device."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    modules: list[Any] = [
        UNet2DConditionModel(**cfg["unet"]),
        AutoencoderKL(**cfg["vae"]),
        CLIPTextModel(CLIPTextConfig(vocab_size=49408, **cfg["text"])),
    ]
    if "text_2" in cfg:
        modules.append(CLIPTextModelWithProjection(CLIPTextConfig(vocab_size=49408, **cfg["text_2"])))
    return modules


def full_size(arch: str) -> dict[str, dict[str, Any]]:
    """The configs of a full-size architecture, "sd15" or "sdxl"."""
    return _SD15 if arch == "sd15" else _sdxl()


def write_checkpoint(path: Path, arch: str, device: str = "cuda", seed: int = 0) -> Path:
    """An fp16 checkpoint of a full-size architecture with random weights in the WebUI single-file layout (what
    users upload; SD 1.5 2.1 GB, SDXL 6.9 GB), for measuring a start through the container's loader."""
    from sdcloud_tools.ldm_layout import checkpoint_to_ldm

    torch.manual_seed(seed)
    with torch.device(device):
        modules = checkpoint_modules(full_size(arch))
    return _save(checkpoint_to_ldm(*(_half(m.state_dict()) for m in modules)), path)


def write_controlnet(path: Path, arch: str, device: str = "cuda", seed: int = 1) -> Path:
    """An fp16 ControlNet for a full-size architecture's UNet with random weights in the WebUI layout
    (`control_model.*`; SD 1.5 0.7 GB, SDXL 2.5 GB)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from sdcloud_tools.ldm_layout import controlnet_to_ldm

    cfg = full_size(arch)
    torch.manual_seed(seed)
    with torch.device(device):
        net = _random_controlnet(ControlNetModel.from_unet(UNet2DConditionModel(**cfg["unet"]), **cfg["controlnet"]))
    return _save(controlnet_to_ldm(_half(net.state_dict())), path)
