"""Loading WebUI single-file model files into diffusers objects, with no hub access.

diffusers' `from_single_file` converts the LDM layout; it is given a local config folder built from
the SD 1.x / SDXL configs shipped in `configs/`, adjusted to the dimensions read from the file's own
tensor shapes (so a checkpoint of the SD 1.5 architecture at other widths loads too), plus the CLIP
tokenizer built offline (`tokenizer.py`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from inference_image.errors import ModelLoadError
from inference_image.tokenizer import write_tokenizer

CONFIGS = Path(__file__).parent / "configs"
Arch = Literal["sd15", "sdxl"]
PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

_UNET = "model.diffusion_model."
_CONTROL = "control_model."
_CLIP = "cond_stage_model.transformer."
_VAE = "first_stage_model."
_XL_CLIP = "conditioner.embedders.0.transformer."
_XL_OPEN_CLIP = "conditioner.embedders.1.model."


class TensorShapes:
    """The names and shapes of a model file's tensors, read without loading the weights when possible."""

    def __init__(self, path: Path, allow_pickle: bool) -> None:
        self.path = path
        self.shapes: dict[str, tuple[int, ...]] = {}
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt") as handle:
                    for key in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                        self.shapes[key] = tuple(handle.get_slice(key).get_shape())
            except Exception as exc:  # safetensors raises several types for a damaged header
                raise ModelLoadError(f"{path.name} is not a readable .safetensors file ({exc})") from exc
        elif path.suffix.lower() in PICKLED_SUFFIXES:
            for key, value in load_state_dict(path, allow_pickle).items():
                if isinstance(value, torch.Tensor):
                    self.shapes[key] = tuple(value.shape)
        else:
            raise ModelLoadError(f"{path.name}: unsupported model file type (use .safetensors)")
        if not self.shapes:
            raise ModelLoadError(f"{path.name} holds no tensors")

    def __contains__(self, key: str) -> bool:
        return key in self.shapes

    def dim(self, key: str, axis: int) -> int:
        if key not in self.shapes:
            raise ModelLoadError(f"{self.path.name} lacks tensor {key}: not a model of the expected kind")
        return self.shapes[key][axis]

    def count(self, prefix: str, suffix: str) -> int:
        """How many numbered blocks `prefix{N}{suffix}` there are."""
        return len({k[len(prefix) :].split(".", 1)[0] for k in self.shapes if k.startswith(prefix) and suffix in k})


def load_state_dict(path: Path, allow_pickle: bool) -> dict[str, Any]:
    """A model file's tensors; pickled formats only when the settings allow them."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelLoadError(f"{path.name} is not a readable .safetensors file ({exc})") from exc
    if not allow_pickle:
        raise ModelLoadError(
            f"{path.name}: pickled model files ({', '.join(PICKLED_SUFFIXES)}) can run code and are refused; "
            "convert it to .safetensors"
        )
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=False)  # explicitly allowed by settings
    except Exception as exc:
        raise ModelLoadError(f"{path.name} could not be unpickled ({exc})") from exc
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path.name} holds no state dict")
    return state


def checkpoint_arch(shapes: TensorShapes) -> Arch:
    if _CLIP + "text_model.embeddings.token_embedding.weight" in shapes:
        return "sd15"
    if _XL_OPEN_CLIP + "token_embedding.weight" in shapes:
        return "sdxl"
    if "cond_stage_model.model.token_embedding.weight" in shapes:
        raise ModelLoadError(f"{shapes.path.name}: SD 2.x checkpoints are not supported (SD 1.x and SDXL are)")
    raise ModelLoadError(f"{shapes.path.name} is not a Stable Diffusion checkpoint (SD 1.x or SDXL) in WebUI layout")


def _unet_dims(shapes: TensorShapes, prefix: str, arch: Arch) -> dict[str, Any]:
    """The UNet / ControlNet config entries that the file's tensors tell: levels, layers and widths, which levels
    have attention (SD 1.x: all but the deepest; SDXL: all but the first) and, for SDXL, the transformer layers
    per level and the added-embedding input. SDXL's addition_time_embed_dim (256) has no weights: it is kept."""
    blocks = shapes.count(prefix + "input_blocks.", ".")
    downsamplers = [i for i in range(blocks) if f"{prefix}input_blocks.{i}.0.op.weight" in shapes]
    layers = downsamplers[0] - 1 if downsamplers else blocks - 1
    first = [f"{prefix}input_blocks.{(layers + 1) * i + 1}." for i in range(blocks // (layers + 1))]
    channels = [shapes.dim(block + "0.in_layers.2.weight", 0) for block in first]
    attention = [block + "1.proj_in.weight" in shapes for block in first]
    context = next(
        (
            shape[1]
            for key, shape in shapes.shapes.items()
            if key.startswith(prefix) and key.endswith("attn2.to_k.weight")
        ),
        None,
    )
    dims: dict[str, Any] = {
        "block_out_channels": channels,
        "layers_per_block": layers,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
        "in_channels": shapes.dim(prefix + "input_blocks.0.0.weight", 1),
    }
    if context is not None:
        dims["cross_attention_dim"] = context
    if arch == "sd15" and any(c % 8 for c in channels):
        dims["attention_head_dim"] = 1
    if arch == "sdxl":  # attention_head_dim is diffusers' name for SDXL's head counts: 64-wide heads
        dims["attention_head_dim"] = [c // 64 if c % 64 == 0 else 1 for c in channels]
        dims["transformer_layers_per_block"] = [
            shapes.count(block + "1.transformer_blocks.", ".") or 1 for block in first
        ]
        dims["projection_class_embeddings_input_dim"] = shapes.dim(prefix + "label_emb.0.0.weight", 1)
    return dims


def _vae_dims(shapes: TensorShapes, prefix: str) -> dict[str, Any]:
    levels = shapes.count(prefix + "encoder.down.", ".block.")
    return {
        "block_out_channels": [shapes.dim(f"{prefix}encoder.down.{i}.block.0.conv1.weight", 0) for i in range(levels)],
        "layers_per_block": shapes.count(prefix + "encoder.down.0.block.", "."),
        "latent_channels": shapes.dim(prefix + "quant_conv.weight", 0) // 2,
    }


def _clip_dims(shapes: TensorShapes, prefix: str) -> dict[str, Any]:
    hidden = shapes.dim(prefix + "embeddings.token_embedding.weight", 1)
    return {
        "hidden_size": hidden,
        "projection_dim": hidden,
        "intermediate_size": shapes.dim(prefix + "encoder.layers.0.mlp.fc1.weight", 0),
        "num_hidden_layers": shapes.count(prefix + "encoder.layers.", "."),
        "num_attention_heads": max(1, hidden // 64),
    }


def _open_clip_dims(shapes: TensorShapes, prefix: str) -> dict[str, Any]:
    """SDXL's second text encoder, in the OpenCLIP layout (`text_projection` is width x projection)."""
    hidden = shapes.dim(prefix + "token_embedding.weight", 1)
    return {
        "hidden_size": hidden,
        "projection_dim": shapes.dim(prefix + "text_projection", 1),
        "intermediate_size": shapes.dim(prefix + "transformer.resblocks.0.mlp.c_fc.weight", 0),
        "num_hidden_layers": shapes.count(prefix + "transformer.resblocks.", "."),
        "num_attention_heads": max(1, hidden // 64),
    }


class ConfigFolders:
    """Local diffusers config folders (shipped configs + dimensions of the file at hand), built once each."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, arch: Arch, overrides: dict[str, dict[str, Any]]) -> Path:
        shipped = CONFIGS / arch
        changed = {}
        for component, values in overrides.items():
            base = json.loads((shipped / component / "config.json").read_text())
            delta = {k: v for k, v in values.items() if base.get(k) != v}
            if delta:
                changed[component] = delta
        digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:12]
        target = self.root / f"{arch}-{digest}"
        if (target / "model_index.json").is_file():
            return target
        tmp = self.root / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(shipped, tmp)
        for component, delta in changed.items():
            path = tmp / component / "config.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), **delta}, indent=2))
        write_tokenizer(tmp / "tokenizer")
        if arch == "sdxl":
            write_tokenizer(tmp / "tokenizer_2", pad_token="!")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target


def _guarded(name: str, load: Callable[[], Any]) -> Any:
    """Run a diffusers loader, turning the errors a bad file causes into a ModelLoadError."""
    try:
        return load()
    except ModelLoadError:
        raise
    except (ValueError, KeyError, RuntimeError, OSError, TypeError, AttributeError, IndexError) as exc:
        raise ModelLoadError(f"{name} could not be loaded: {exc}") from exc


def load_checkpoint(path: Path, configs: ConfigFolders, dtype: torch.dtype, allow_pickle: bool) -> Any:
    """A StableDiffusionPipeline or StableDiffusionXLPipeline from a WebUI checkpoint."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    shapes = TensorShapes(path, allow_pickle)
    arch = checkpoint_arch(shapes)
    overrides: dict[str, dict[str, Any]] = {"unet": _unet_dims(shapes, _UNET, arch), "vae": _vae_dims(shapes, _VAE)}
    if arch == "sd15":
        overrides["text_encoder"] = _clip_dims(shapes, _CLIP + "text_model.")
    else:
        overrides["text_encoder"] = _clip_dims(shapes, _XL_CLIP + "text_model.")
        overrides["text_encoder_2"] = _open_clip_dims(shapes, _XL_OPEN_CLIP)
    folder = configs.folder(arch, overrides)
    cls = StableDiffusionPipeline if arch == "sd15" else StableDiffusionXLPipeline
    kwargs: dict[str, Any] = {"safety_checker": None, "feature_extractor": None} if arch == "sd15" else {}
    return _guarded(
        path.name,
        lambda: cls.from_single_file(str(path), config=str(folder), local_files_only=True, torch_dtype=dtype, **kwargs),
    )


def pipeline_arch(pipe: Any) -> Arch:
    return "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd15"


def load_vae(path: Path, configs: ConfigFolders, arch: Arch, dtype: torch.dtype, allow_pickle: bool) -> Any:
    from diffusers import AutoencoderKL

    shapes = TensorShapes(path, allow_pickle)
    prefix = _VAE if _VAE + "quant_conv.weight" in shapes else ""
    if prefix + "encoder.conv_in.weight" not in shapes:
        raise ModelLoadError(f"{path.name} is not a VAE in WebUI layout")
    folder = configs.folder(arch, {"vae": _vae_dims(shapes, prefix)})
    return _guarded(
        path.name,
        lambda: AutoencoderKL.from_single_file(
            str(path), config=str(folder), subfolder="vae", local_files_only=True, torch_dtype=dtype
        ),
    )


def load_controlnet(path: Path, configs: ConfigFolders, arch: Arch, dtype: torch.dtype, allow_pickle: bool) -> Any:
    from diffusers import ControlNetModel

    shapes = TensorShapes(path, allow_pickle)
    if _CONTROL + "input_hint_block.0.weight" not in shapes:
        raise ModelLoadError(f"{path.name} is not a ControlNet model in WebUI layout")
    model_arch: Arch = "sdxl" if _CONTROL + "label_emb.0.0.weight" in shapes else "sd15"
    if model_arch != arch:
        raise ModelLoadError(f"{path.name} is a ControlNet for {model_arch}, the checkpoint is {arch}")
    dims = {k: v for k, v in _unet_dims(shapes, _CONTROL, arch).items() if k != "up_block_types"}  # no up blocks
    folder = configs.folder(arch, {"controlnet": dims})
    source: Any = str(path) if arch == "sd15" else _sdxl_controlnet_state(path, folder, allow_pickle)
    return _guarded(
        path.name,
        lambda: ControlNetModel.from_single_file(
            source, config=str(folder), subfolder="controlnet", local_files_only=True, torch_dtype=dtype
        ),
    )


def _sdxl_controlnet_state(path: Path, folder: Path, allow_pickle: bool) -> dict[str, Any]:
    """An SDXL ControlNet's diffusers state dict: diffusers' own converter, plus the added (pooled text and size)
    embedding `label_emb`, which that converter leaves out (diffusers 0.42), so that it would stay unloaded."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    state = load_state_dict(path, allow_pickle)
    config = json.loads((folder / "controlnet" / "config.json").read_text())
    converted: dict[str, Any] = _guarded(path.name, lambda: convert_controlnet_checkpoint(state, config))
    for hf, ldm in (("linear_1", "0.0"), ("linear_2", "0.2")):
        for kind in ("weight", "bias"):
            converted[f"add_embedding.{hf}.{kind}"] = state.get(f"{_CONTROL}label_emb.{ldm}.{kind}")
    return converted
