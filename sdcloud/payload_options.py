"""The WebUI API body from command-line options: `--payload file.json` first, then each option given.

The server validates the result (and names the field at fault); here only the command-line syntax is
checked, e.g. `--controlnet module=canny,model=tiny-controlnet,image=pose.png,weight=0.8`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

CONTROLNET_FLOAT_KEYS = ("weight", "guidance_start", "guidance_end", "threshold_a", "threshold_b")
CONTROLNET_INT_KEYS = ("processor_res",)
CONTROLNET_BOOL_KEYS = ("enabled", "pixel_perfect", "low_vram")
CONTROLNET_TEXT_KEYS = ("module", "model", "control_mode", "resize_mode")
CONTROLNET_KEYS = ("image", *CONTROLNET_TEXT_KEYS, *CONTROLNET_FLOAT_KEYS, *CONTROLNET_INT_KEYS,
                   *CONTROLNET_BOOL_KEYS)


class OptionError(ValueError):
    """A command-line value that cannot be turned into the payload; the message names the option."""


def image_base64(path: str | Path, option: str) -> str:
    try:
        return base64.b64encode(Path(path).expanduser().read_bytes()).decode()
    except OSError as exc:
        raise OptionError(f"{option}: cannot read image {path}: {exc.strerror}") from exc


def parse_controlnet(spec: str) -> dict[str, Any]:
    """`key=value,key=value` -> one `alwayson_scripts.controlnet.args` unit (image: a file path)."""
    unit: dict[str, Any] = {"enabled": True}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionError(f"--controlnet: '{item}' is not key=value")
        if key not in CONTROLNET_KEYS:
            raise OptionError(f"--controlnet: unknown key '{key}' (known: {', '.join(CONTROLNET_KEYS)})")
        value = value.strip()
        try:
            if key in CONTROLNET_FLOAT_KEYS:
                unit[key] = float(value)
            elif key in CONTROLNET_INT_KEYS:
                unit[key] = int(value)
            elif key in CONTROLNET_BOOL_KEYS:
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                unit[key] = value.lower() in ("true", "1", "yes")
            elif key == "image":
                unit[key] = image_base64(value, "--controlnet image")
            else:
                unit[key] = value
        except ValueError as exc:
            if isinstance(exc, OptionError):
                raise
            raise OptionError(f"--controlnet: {key}={value} is not a valid value for {key}") from exc
    return unit


def load_payload(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise OptionError(f"--payload: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise OptionError(f"--payload: {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise OptionError(f"--payload: {path} must hold a JSON object (the WebUI API body)")
    return data


def build_payload(base: dict[str, Any], options: dict[str, Any], overrides: dict[str, Any],
                  controlnets: list[str], init_images: list[Path] | None = None, mask: Path | None = None
                  ) -> dict[str, Any]:
    """Merge the options and `override_settings` entries that were given (not None) over the `--payload` body."""
    payload = dict(base)
    payload.update({name: value for name, value in options.items() if value is not None})
    given = {name: value for name, value in overrides.items() if value is not None}
    if given:
        payload["override_settings"] = {**(payload.get("override_settings") or {}), **given}
    if controlnets:
        scripts = dict(payload.get("alwayson_scripts") or {})
        scripts["controlnet"] = {"args": [parse_controlnet(spec) for spec in controlnets]}
        payload["alwayson_scripts"] = scripts
    if init_images:
        payload["init_images"] = [image_base64(path, "--init-image") for path in init_images]
    if mask is not None:
        payload["mask"] = image_base64(mask, "--mask")
    return payload
