"""The WebUI's extra networks on a loaded pipeline for the time of one job: LoRAs (PEFT adapters at their tag
weights) and textual inversion embeddings, removed after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from api_schema.container_env import FAST_PRECISION
from inference_image.checkpoints import load_state_dict
from inference_image.errors import InvalidJob, ModelLoadError
from inference_image.runners import Runner


@contextlib.contextmanager
def extra_networks(
    pipe: Any,
    lora_paths: dict[str, Path],
    weights: dict[str, float],
    embedding_paths: dict[str, Path],
    runner: Runner,
    allow_pickle: bool,
) -> Iterator[None]:
    if lora_paths and not runner.takes_lora(pipe):
        raise InvalidJob(
            f"LoRA {', '.join(map(repr, lora_paths))}: this endpoint runs the UNet in float8 "
            f"({FAST_PRECISION}=fp8), which takes no LoRA; use an endpoint at the default precision"
        )
    tokenizers = [t for t in (pipe.tokenizer, getattr(pipe, "tokenizer_2", None)) if t is not None]
    before = [set(t.get_vocab()) for t in tokenizers]
    fused = False
    try:
        adapters = []
        for i, (name, path) in enumerate(lora_paths.items()):
            adapter = f"lora{i}"
            state = load_state_dict(path, allow_pickle)
            try:
                pipe.load_lora_weights(state, adapter_name=adapter)
            except (ValueError, KeyError, RuntimeError, TypeError) as exc:
                raise ModelLoadError(f"LoRA '{name}' could not be loaded: {exc}") from exc
            adapters.append(adapter)
        fused = bool(adapters) and runner.fuses_lora(pipe)
        if adapters:
            pipe.set_adapters(adapters, adapter_weights=[weights[n] for n in lora_paths])
        if fused:
            # the fast runner replays graphs of the UNet's own weights, so the LoRAs go into them
            pipe.fuse_lora(components=["unet"], adapter_names=adapters)
        for name, path in embedding_paths.items():
            load_embedding(pipe, name, path, allow_pickle)
        yield
    finally:
        if fused:
            pipe.unfuse_lora(components=["unet"])
        if lora_paths:
            pipe.unload_lora_weights()
        for tokenizer, vocab in zip(tokenizers, before, strict=True):
            added = [t for t in tokenizer.get_vocab() if t not in vocab]
            if added:
                encoder = pipe.text_encoder if tokenizer is pipe.tokenizer else pipe.text_encoder_2
                pipe.unload_textual_inversion(tokens=added, tokenizer=tokenizer, text_encoder=encoder)


def load_embedding(pipe: Any, name: str, path: Path, allow_pickle: bool) -> None:
    state = load_state_dict(path, allow_pickle)
    try:
        if "clip_l" in state and "clip_g" in state:  # SDXL embeddings carry one tensor per encoder
            if getattr(pipe, "text_encoder_2", None) is None:
                raise ModelLoadError(f"embedding '{name}' is for SDXL, the checkpoint is SD 1.x")
            pipe.load_textual_inversion(
                state["clip_l"], token=name, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
            )
            pipe.load_textual_inversion(
                state["clip_g"], token=name, text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2
            )
        else:
            pipe.load_textual_inversion(state, token=name)
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"embedding '{name}' could not be loaded: {exc}") from exc
