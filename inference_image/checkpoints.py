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
    if "conditioner.embedders.1.model.token_embedding.weight" in shapes:
        return "sdxl"
    if "cond_stage_model.model.token_embedding.weight" in shapes:
        raise ModelLoadError(f"{shapes.path.name}: SD 2.x checkpoints are not supported (SD 1.x and SDXL are)")
    raise ModelLoadError(f"{shapes.path.name} is not a Stable Diffusion checkpoint (SD 1.x or SDXL) in WebUI layout")


def _unet_dims(shapes: TensorShapes, prefix: str) -> dict[str, Any]:
    levels = shapes.count(prefix + "input_blocks.", ".")
    layers = 2
    channels = [
        shapes.dim(f"{prefix}input_blocks.{(layers + 1) * i + 1}.0.in_layers.2.weight", 0)
        for i in range((levels - 1) // (layers + 1) + 1)
    ]
    dims: dict[str, Any] = {
        "block_out_channels": channels,
        "in_channels": shapes.dim(prefix + "input_blocks.0.0.weight", 1),
        "cross_attention_dim": shapes.dim(prefix + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", 1),
    }
    if any(c % 8 for c in channels):
        dims["attention_head_dim"] = 1
    return dims


def _vae_dims(shapes: TensorShapes, prefix: str) -> dict[str, Any]:
    levels = shapes.count(prefix + "encoder.down.", ".block.")
    return {
        "block_out_channels": [shapes.dim(f"{prefix}encoder.down.{i}.block.0.conv1.weight", 0) for i in range(levels)],
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
    overrides: dict[str, dict[str, Any]] = {}
    if arch == "sd15":
        overrides = {
            "unet": _unet_dims(shapes, _UNET),
            "vae": _vae_dims(shapes, _VAE),
            "text_encoder": _clip_dims(shapes, _CLIP + "text_model."),
        }
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
    context = next((shape[1] for key, shape in shapes.shapes.items() if key.endswith("attn2.to_k.weight")), 768)
    model_arch: Arch = "sdxl" if context == 2048 else "sd15"
    if model_arch != arch:
        raise ModelLoadError(f"{path.name} is a ControlNet for {model_arch}, the checkpoint is {arch}")
    overrides = {"controlnet": _unet_dims(shapes, _CONTROL)} if arch == "sd15" else {}
    folder = configs.folder(arch, overrides)
    return _guarded(
        path.name,
        lambda: ControlNetModel.from_single_file(
            str(path), config=str(folder), subfolder="controlnet", local_files_only=True, torch_dtype=dtype
        ),
    )
