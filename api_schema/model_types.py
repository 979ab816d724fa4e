"""The kinds of model file users upload (stdlib only: the CLI and the panels import this too)."""

from typing import Literal, get_args

ModelType = Literal["checkpoint", "lora", "vae", "controlnet", "embedding", "annotator", "upscaler"]
MODEL_TYPES: tuple[str, ...] = get_args(ModelType)
