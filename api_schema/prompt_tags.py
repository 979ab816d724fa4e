"""Extra-network tags in WebUI prompts: `<lora:name:weight>`, `<lora:name>` (weight 1)."""

import re

_LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::([^:>]+))?(?::[^>]*)?>", re.IGNORECASE)


def lora_tags(prompt: str) -> list[tuple[str, float]]:
    """The LoRA tags of a prompt as (name, weight), in order of appearance."""
    tags = []
    for match in _LORA_TAG.finditer(prompt):
        weight = match.group(2)
        try:
            value = float(weight) if weight is not None else 1.0
        except ValueError as exc:
            raise ValueError(f"LoRA tag '{match.group(0)}' has a weight that is not a number") from exc
        tags.append((match.group(1).strip(), value))
    return tags


def strip_lora_tags(prompt: str) -> str:
    """The prompt without its LoRA tags, as the text encoder should see it."""
    return _LORA_TAG.sub("", prompt)


_NAME_DECORATION = re.compile(r"\s*\[[0-9a-fA-F]{6,64}\]$")
_MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def model_name_of(title: str) -> str:
    """The registered model name behind a WebUI title like 'sd15.safetensors [6ce0161689]'."""
    name = _NAME_DECORATION.sub("", title.strip())
    for suffix in _MODEL_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
