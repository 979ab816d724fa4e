"""The WebUI single-file layout writer (`sdcloud_tools.ldm_layout`) against the container's loader
(`inference_image.checkpoints`): tiny SD 1.5 and SDXL models written with it load back with every tensor equal
and compute the same outputs; the full-size SDXL layout converts back through diffusers' own converters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from inference_image.checkpoints import ConfigFolders, load_checkpoint, load_controlnet
from inference_image.errors import ModelLoadError
from sdcloud_tools import sample_models as samples
from sdcloud_tools.ldm_layout import checkpoint_to_ldm, controlnet_to_ldm


def _distinct(*modules: torch.nn.Module) -> None:
    """Every tensor random and different, norm scales and zero-initialised ones included, so that two tensors
    swapped by the layout (q and k, ln_1 and ln_2, two transformer layers) cannot compare equal."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1 + (1.0 if param.ndim == 1 else 0.0))


def _save(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def _models(arch: str) -> tuple[Any, ...]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    if arch == "sdxl":
        modules: tuple[Any, ...] = samples.sdxl_components()
    else:
        modules = (
            UNet2DConditionModel(**samples.UNET_CONFIG),
            AutoencoderKL(**samples.VAE_CONFIG),
            CLIPTextModel(CLIPTextConfig(**samples.TEXT_CONFIG)),
        )
    _distinct(*modules)
    return modules


def _assert_same_weights(name: str, original: torch.nn.Module, loaded: torch.nn.Module) -> None:
    want, got = original.state_dict(), loaded.state_dict()
    assert set(got) == set(want), f"{name}: missing {set(want) - set(got)}, unexpected {set(got) - set(want)}"
    for key, value in want.items():
        assert got[key].dtype == torch.float32, f"{name}.{key}"
        assert torch.equal(got[key], value), f"{name}.{key} differs"


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal weights, so only float rounding may differ (another attention kernel, memory layout)."""
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def _unet_inputs(unet: Any, generator: torch.Generator) -> tuple[tuple[Any, ...], dict[str, Any]]:
    config = unet.config
    sample = torch.randn(1, 4, 16, 16, generator=generator)
    context = torch.randn(1, 5, config.cross_attention_dim, generator=generator)
    kwargs: dict[str, Any] = {}
    if config.addition_embed_type == "text_time":
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, pooled, generator=generator),
            "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]),
        }
    return (sample, torch.tensor([500]), context), kwargs


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_checkpoint_written_in_webui_layout_loads_back_exactly(arch, tmp_path):
    modules = _models(arch)
    path = _save(tmp_path / f"tiny-{arch}.safetensors", checkpoint_to_ldm(*(m.state_dict() for m in modules)))

    pipe = load_checkpoint(path, ConfigFolders(tmp_path / "configs"), torch.float32, allow_pickle=False)

    names = ["unet", "vae", "text_encoder", "text_encoder_2"][: len(modules)]
    assert (getattr(pipe, "text_encoder_2", None) is not None) == (arch == "sdxl")
    for name, original in zip(names, modules, strict=True):
        _assert_same_weights(name, original, getattr(pipe, name))
    # The configs the loader derived from the file compute what the originals compute (heads, layers, ...).
    generator = torch.Generator().manual_seed(3)
    args, kwargs = _unet_inputs(modules[0], generator)
    # A tokenized prompt: start, words, end of text (the pooled output's position), padding.
    words = torch.randint(0, 49406, (1, 20), generator=generator)
    ids = torch.cat([torch.tensor([[49406]]), words, torch.full((1, 56), 49407)], dim=1)
    image = torch.randn(1, 3, 32, 32, generator=generator)
    with torch.no_grad():
        _close(pipe.unet(*args, **kwargs).sample, modules[0](*args, **kwargs).sample)
        _close(pipe.vae(image).sample, modules[1](image).sample)
        for name, original in zip(names[2:], modules[2:], strict=True):
            want, got = original(ids, output_hidden_states=True), getattr(pipe, name)(ids, output_hidden_states=True)
            _close(got.hidden_states[-2], want.hidden_states[-2])
            _close(got[0], want[0])  # SDXL's second encoder: the projected pooled output


def test_sdxl_unet_layout_is_exercised_by_the_tiny_model():
    """The tiny SDXL has what makes SDXL's block numbering differ from SD 1.x's."""
    unet_keys = checkpoint_to_ldm(*(m.state_dict() for m in samples.sdxl_components())).keys()
    prefix = "model.diffusion_model."
    assert prefix + "input_blocks.7.1.transformer_blocks.2.attn2.to_k.weight" in unet_keys
    assert prefix + "output_blocks.2.2.conv.weight" in unet_keys  # an upsampler after an attention
    assert not any(k.startswith(prefix + "input_blocks.1.1.") for k in unet_keys)  # no attention at level 0
    assert prefix + "label_emb.0.2.weight" in unet_keys


def test_sdxl_controlnet_written_in_webui_layout_loads_back_exactly(tmp_path):
    from diffusers import ControlNetModel

    unet = _models("sdxl")[0]
    net = ControlNetModel.from_unet(unet)
    _distinct(net)
    path = _save(tmp_path / "tiny-sdxl-controlnet.safetensors", controlnet_to_ldm(net.state_dict()))
    assert "control_model.label_emb.0.0.weight" in controlnet_to_ldm(net.state_dict())
    configs = ConfigFolders(tmp_path / "configs")

    loaded = load_controlnet(path, configs, "sdxl", torch.float32, allow_pickle=False)

    _assert_same_weights("controlnet", net, loaded)
    args, kwargs = _unet_inputs(unet, torch.Generator().manual_seed(4))
    hint = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want, got = net(*args, controlnet_cond=hint, **kwargs), loaded(*args, controlnet_cond=hint, **kwargs)
    for a, b in zip([*want.down_block_res_samples, want.mid_block_res_sample], [*got[0], got[1]], strict=True):
        _close(b, a)
    with pytest.raises(ModelLoadError, match="a ControlNet for sdxl, the checkpoint is sd15"):
        load_controlnet(path, configs, "sd15", torch.float32, allow_pickle=False)


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_full_size_layout_converts_back_through_diffusers_and_loads_with_the_shipped_configs(arch):
    """The full-size models that the benchmark's writers build (SDXL: 3 levels, 1/2/10 transformer layers), on the
    meta device: every tensor of the layout is one that diffusers' single-file converters turn back into the
    model's own key and shape, and the dimensions the loader reads from the file are the shipped configs'."""
    from diffusers import ControlNetModel
    from diffusers.loaders import single_file_utils as sfu

    from inference_image import checkpoints
    from sdcloud_tools.benchmarks import models

    xl = arch == "sdxl"
    cfg = models.full_size(arch)
    with torch.device("meta"):
        modules = models.checkpoint_modules(cfg)
        net = ControlNetModel.from_unet(modules[0], **cfg["controlnet"])
    unet, vae = modules[:2]
    checkpoint = checkpoint_to_ldm(*(m.state_dict() for m in modules))
    control = controlnet_to_ldm(net.state_dict())
    params = {"sd15": (1_066_235_307, 361_279_120), "sdxl": (3_468_837_867, 1_251_014_160)}[arch]
    assert (sum(v.numel() for v in checkpoint.values()), sum(v.numel() for v in control.values())) == params

    def shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in state.items()}

    back = {
        "unet": sfu.convert_ldm_unet_checkpoint(checkpoint, dict(unet.config)),
        "vae": sfu.convert_ldm_vae_checkpoint(checkpoint, dict(vae.config)),
        "text_encoder": {
            k.removeprefix("text_model."): v for k, v in sfu.convert_ldm_clip_checkpoint(checkpoint).items()
        },
    }
    if xl:
        back["text_encoder_2"] = sfu.convert_open_clip_checkpoint(
            modules[3], checkpoint, "conditioner.embedders.1.model."
        )
    for name, module in zip(back, modules, strict=True):
        assert shapes(back[name]) == shapes(module.state_dict()), name
    converted = sfu.convert_controlnet_checkpoint(control, dict(net.config))
    missing = set(net.state_dict()) - set(converted)  # diffusers leaves SDXL's label_emb out: the loader adds it
    assert missing == ({f"add_embedding.linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")} if xl else set())
    assert shapes(converted) == {k: v for k, v in shapes(net.state_dict()).items() if k not in missing}

    def read(state: dict[str, torch.Tensor]) -> checkpoints.TensorShapes:
        found = checkpoints.TensorShapes.__new__(checkpoints.TensorShapes)
        found.path, found.shapes = Path(f"{arch}.safetensors"), shapes(state)
        return found

    file, control_file = read(checkpoint), read(control)
    dims = {
        "unet": checkpoints._unet_dims(file, "model.diffusion_model.", arch),
        "vae": checkpoints._vae_dims(file, "first_stage_model."),
        "text_encoder": checkpoints._clip_dims(
            file, ("conditioner.embedders.0.transformer." if xl else "cond_stage_model.transformer.") + "text_model."
        ),
        "controlnet": checkpoints._unet_dims(control_file, "control_model.", arch),
    }
    if xl:
        dims["text_encoder_2"] = checkpoints._open_clip_dims(file, "conditioner.embedders.1.model.")
    dims["controlnet"].pop("up_block_types")
    for component, values in dims.items():
        shipped = json.loads((checkpoints.CONFIGS / arch / component / "config.json").read_text())
        assert {k: shipped.get(k) for k in values} == values, component
