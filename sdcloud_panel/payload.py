"""The WebUI API body (`/sdapi/v1/txt2img` or `img2img`) from what the panel's widgets hold."""

from __future__ import annotations

import base64
import io
from typing import Any

from api_schema.prompt_tags import lora_tags

NO_VAE = ("", "Automatic", None)
UNIT_FIELDS = (
    "enabled",
    "module",
    "model",
    "weight",
    "image",
    "guidance_start",
    "guidance_end",
    "control_mode",
)


class PanelError(Exception):
    """A problem the user can fix; shown in the panel, nothing is submitted."""


def build_payload(task: str, values: dict[str, Any], units: list[dict[str, Any]]) -> dict[str, Any]:
    """`values` holds the native parameters by their WebUI API names, plus `checkpoint`, `vae`, `loras`
    (cloud model names) and for img2img `init_image`; `units` the ControlNet units' UNIT_FIELDS."""
    payload: dict[str, Any] = {
        "prompt": _with_loras(values.get("prompt") or "", values.get("loras") or []),
        "negative_prompt": values.get("negative_prompt") or "",
        "sampler_name": values["sampler_name"],
        "steps": int(values["steps"]),
        "cfg_scale": float(values["cfg_scale"]),
        "width": int(values["width"]),
        "height": int(values["height"]),
        "seed": int(values["seed"] if values.get("seed") not in (None, "") else -1),
        "batch_size": int(values["batch_size"]),
        "n_iter": int(values["n_iter"]),
    }
    overrides = {}
    if values.get("checkpoint"):
        overrides["sd_model_checkpoint"] = values["checkpoint"]
    if values.get("vae") not in NO_VAE:
        overrides["sd_vae"] = values["vae"]
    if overrides:
        payload["override_settings"] = overrides
    if task == "img2img":
        if values.get("init_image") is None:
            raise PanelError("img2img needs an image: upload one (or use Send to img2img)")
        payload["init_images"] = [encode_image(values["init_image"])]
        payload["denoising_strength"] = float(values.get("denoising_strength", 0.75))
    args = [_unit(index, unit) for index, unit in enumerate(units) if unit.get("enabled")]
    if args:
        payload["alwayson_scripts"] = {"controlnet": {"args": args}}
    return payload


# sd-webui-controlnet's unit fields beyond the panel's own, sent as they are when a unit has them.
EXTRA_UNIT_FIELDS = ("resize_mode", "processor_res", "threshold_a", "threshold_b", "pixel_perfect")


def _unit(index: int, unit: dict[str, Any]) -> dict[str, Any]:
    if not unit.get("model") or unit["model"] == "None":
        raise PanelError(f"ControlNet Unit {index}: choose a Model (a ControlNet model uploaded to the cloud)")
    image = _unit_image(index, unit.get("image"))
    if image is None:
        raise PanelError(f"ControlNet Unit {index}: upload an image")
    if float(unit["guidance_start"]) > float(unit["guidance_end"]):
        raise PanelError(f"ControlNet Unit {index}: Starting Control Step must not exceed Ending Control Step")
    return {
        "enabled": True,
        "module": unit.get("module") or "none",
        "model": unit["model"],
        "weight": float(unit["weight"]),
        "image": encode_image(image),
        "guidance_start": float(unit["guidance_start"]),
        "guidance_end": float(unit["guidance_end"]),
        "control_mode": unit.get("control_mode") or "Balanced",
        **{name: unit[name] for name in EXTRA_UNIT_FIELDS if name in unit},
    }


def _unit_image(index: int, image: Any) -> Any:
    """The unit's image; sd-webui-controlnet's sketch-enabled upload gives `{"image", "mask"}`, where only an
    unpainted (all black) mask is supported on the cloud."""
    if not isinstance(image, dict):
        return image
    mask = image.get("mask")
    if mask is not None and _to_pil(mask).convert("L").getbbox() is not None:
        raise PanelError(f"ControlNet Unit {index}: a mask painted on the image is not supported on the cloud")
    return image.get("image")


def _with_loras(prompt: str, loras: list[str]) -> str:
    present = {name for name, _ in lora_tags(prompt)}
    tags = [f"<lora:{name}:1>" for name in loras if name not in present]
    return " ".join([prompt, *tags]).strip() if tags else prompt


def encode_image(image: Any) -> str:
    """A PIL image or numpy array (what gradio's Image hands over) as base64 PNG."""
    out = io.BytesIO()
    _to_pil(image).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _to_pil(image: Any) -> Any:
    from PIL import Image

    return image if isinstance(image, Image.Image) else Image.fromarray(image)
