"""Diffusers -> WebUI (original LDM / SGM) single-file key layout, for SD 1.x and SDXL models.

Used to write checkpoints in the single-file layout users upload (`sample_models`, the benchmarks' random
models); loading goes the other way through diffusers' own `from_single_file` converters. The block layout
(levels, layers per level, which levels have attention) is read from the diffusers state dict itself.
"""

from __future__ import annotations

import re

import torch

State = dict[str, torch.Tensor]

_UNET_FIXED = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",  # SDXL's pooled-text + size embedding
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
# HF CLIP text transformer -> OpenCLIP (SDXL's second text encoder); q, k and v are merged separately.
_OPEN_CLIP = (
    ("embeddings.token_embedding.", "token_embedding."),
    ("embeddings.position_embedding.weight", "positional_embedding"),
    ("final_layer_norm.", "ln_final."),
    ("encoder.layers.", "transformer.resblocks."),
    ("self_attn.out_proj.", "attn.out_proj."),
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
)
_QKV = re.compile(r"(.*)self_attn\.([qkv])_proj\.(weight|bias)")


def _count(state: State, prefix: str) -> int:
    """How many numbered blocks `prefix{N}.` the state dict has."""
    return len({key[len(prefix) :].split(".", 1)[0] for key in state if key.startswith(prefix)})


def _unet_prefixes(state: State) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs of the UNet/ControlNet blocks: SD 1.x (4 levels, attention in all
    but the deepest) or SDXL (3 levels, none in the first), any number of transformer layers per block."""
    levels, layers = _count(state, "down_blocks."), _count(state, "down_blocks.0.resnets.")
    pairs: list[tuple[str, str]] = []
    for i in range(levels):
        for j in range(layers):
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.1."))
        if i < levels - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(layers + 1) * (i + 1)}.0.op."))
        for j in range(layers + 1):
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{(layers + 1) * i + j}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{(layers + 1) * i + j}.1."))
        if i < levels - 1:  # the upsampler follows the level's last resnet and, if any, its attention
            has_attention = any(key.startswith(f"up_blocks.{i}.attentions.") for key in state)
            pairs.append(
                (
                    f"up_blocks.{i}.upsamplers.0.",
                    f"output_blocks.{(layers + 1) * i + layers}.{2 if has_attention else 1}.",
                )
            )
    pairs.append(("mid_block.attentions.0.", "middle_block.1."))
    pairs.append(("mid_block.resnets.0.", "middle_block.0."))
    pairs.append(("mid_block.resnets.1.", "middle_block.2."))
    return pairs


def _convert_unet_key(key: str, prefixes: list[tuple[str, str]]) -> str:
    for hf, ldm in _UNET_FIXED.items():
        if key.startswith(hf):
            return ldm + key[len(hf) :]
    for hf, ldm in prefixes:
        if key.startswith(hf):
            rest = key[len(hf) :]
            if ".resnets." in hf:
                for hf_part, ldm_part in _RESNET:
                    if rest.startswith(hf_part + "."):
                        rest = ldm_part + rest[len(hf_part) :]
                        break
            return ldm + rest
    raise KeyError(f"no LDM name for UNet key {key}")


def unet_to_ldm(state: State) -> State:
    prefixes = _unet_prefixes(state)
    return {_convert_unet_key(k, prefixes): v for k, v in state.items()}


def controlnet_to_ldm(state: State) -> State:
    """A ControlNet (SD 1.x or SDXL) in the WebUI layout, under `control_model.`."""
    prefixes = _unet_prefixes(state)
    out: State = {}
    for key, value in state.items():
        if key.startswith("controlnet_down_blocks."):
            index, rest = key[len("controlnet_down_blocks.") :].split(".", 1)
            name = f"zero_convs.{index}.0.{rest}"
        elif key.startswith("controlnet_mid_block."):
            name = "middle_block_out.0." + key[len("controlnet_mid_block.") :]
        elif key.startswith("controlnet_cond_embedding.conv_in."):
            name = "input_hint_block.0." + key.rsplit(".", 1)[1]
        elif key.startswith("controlnet_cond_embedding.conv_out."):
            name = "input_hint_block.14." + key.rsplit(".", 1)[1]
        elif key.startswith("controlnet_cond_embedding.blocks."):
            index, rest = key[len("controlnet_cond_embedding.blocks.") :].split(".", 1)
            name = f"input_hint_block.{2 * (int(index) + 1)}.{rest}"
        else:
            name = _convert_unet_key(key, prefixes)
        out["control_model." + name] = value
    return out


def vae_to_ldm(state: State) -> State:
    levels, layers = _count(state, "encoder.down_blocks."), _count(state, "encoder.down_blocks.0.resnets.")
    pairs: list[tuple[str, str]] = [
        ("encoder.conv_norm_out.", "encoder.norm_out."),
        ("decoder.conv_norm_out.", "decoder.norm_out."),
        ("encoder.mid_block.attentions.0.", "encoder.mid.attn_1."),
        ("decoder.mid_block.attentions.0.", "decoder.mid.attn_1."),
    ]
    for part in ("encoder", "decoder"):
        for j in range(2):
            pairs.append((f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}."))
    for i in range(levels):
        for j in range(layers):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        if i < levels - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample."))
        for j in range(layers + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{levels - 1 - i}.block.{j}."))
    attention = {
        "group_norm.": "norm.",
        "to_q.": "q.",
        "to_k.": "k.",
        "to_v.": "v.",
        "to_out.0.": "proj_out.",
    }
    out: State = {}
    for key, value in state.items():
        name = key
        for hf, ldm in pairs:
            if key.startswith(hf):
                name = ldm + key[len(hf) :]
                break
        if ".attn_1." in name:
            head, rest = name.split(".attn_1.", 1)
            for hf, ldm in attention.items():
                if rest.startswith(hf):
                    rest = ldm + rest[len(hf) :]
            name = f"{head}.attn_1.{rest}"
            if value.ndim == 2:  # LDM keeps the attention projections as 1x1 convolutions
                value = value[:, :, None, None]
        name = name.replace("conv_shortcut.", "nin_shortcut.")
        out[name] = value
    return out


def clip_to_ldm(state: State, prefix: str = "cond_stage_model.transformer.") -> State:
    """transformers >= 5 saves CLIPTextModel keys without `text_model.`; the WebUI layout keeps it."""
    out = {}
    for key, value in state.items():
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = value
    return out


def open_clip_to_ldm(state: State, prefix: str = "conditioner.embedders.1.model.") -> State:
    """A CLIPTextModelWithProjection in the OpenCLIP layout of SDXL's second text encoder: q, k and v in one
    `in_proj` tensor, the projection as a plain (width, projection) matrix, the transpose of the Linear's."""
    out: State = {}
    for key, value in state.items():
        name = key.removeprefix("text_model.")
        if name == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
            continue
        qkv = _QKV.fullmatch(name)
        if qkv:
            if qkv[2] != "q":
                continue
            value = torch.cat([state[key.replace("q_proj", f"{p}_proj")] for p in "qkv"])
            name = f"{qkv[1]}attn.in_proj_{qkv[3]}"
        for hf, ldm in _OPEN_CLIP:
            name = name.replace(hf, ldm)
        out[prefix + name] = value
    return out


def checkpoint_to_ldm(unet: State, vae: State, text: State, text_2: State | None = None) -> State:
    """A whole checkpoint in the WebUI single-file layout: SD 1.x (UNet, VAE, CLIP text encoder) or, with a
    second text encoder (a CLIPTextModelWithProjection), SDXL in the SGM layout."""
    texts = (
        clip_to_ldm(text)
        if text_2 is None
        else {**clip_to_ldm(text, "conditioner.embedders.0.transformer."), **open_clip_to_ldm(text_2)}
    )
    return {
        **{"model.diffusion_model." + k: v for k, v in unet_to_ldm(unet).items()},
        **{"first_stage_model." + k: v for k, v in vae_to_ldm(vae).items()},
        **texts,
    }
