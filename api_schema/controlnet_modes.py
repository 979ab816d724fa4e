"""ControlNet option names as sd-webui-controlnet spells them, and the other forms its API takes.

Stdlib only: the WebUI panel imports this too.
"""

from __future__ import annotations

RESIZE_MODES: tuple[str, ...] = ("Just Resize", "Crop and Resize", "Resize and Fill")
CONTROL_MODES: tuple[str, ...] = ("Balanced", "My prompt is more important", "ControlNet is more important")
HR_OPTIONS: tuple[str, ...] = ("Both", "Low res only", "High res only")  # the hires-fix passes a unit applies to

# external_code.resize_mode_aliases: the names of older versions.
RESIZE_MODE_ALIASES: dict[str, str] = {
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Outer Fit (Shrink to Fit)": "Resize and Fill",
    "Scale to Fit (Inner Fit)": "Crop and Resize",
    "Envelope (Outer Fit)": "Resize and Fill",
}
# external_code.resize_mode_from_value: 3 was 'Just Resize (Latent upscale)'.
_RESIZE_MODE_LEGACY_INTS = {3: "Just Resize"}
# The enum member names (ControlMode.BALANCED ...), which older clients sent as well.
_CONTROL_MODE_MEMBERS = {"BALANCED": "Balanced", "PROMPT": "My prompt is more important",
                         "CONTROL": "ControlNet is more important"}


def canonical_resize_mode(value: object) -> str:
    """An int (0-3), a current name or a legacy one -> the current name; ValueError lists the forms."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(RESIZE_MODES):
            return RESIZE_MODES[value]
        if value in _RESIZE_MODE_LEGACY_INTS:
            return _RESIZE_MODE_LEGACY_INTS[value]
    elif isinstance(value, str):
        name = RESIZE_MODE_ALIASES.get(value.strip(), value.strip())
        if name in RESIZE_MODES:
            return name
    raise ValueError(f"resize_mode must be one of {list(RESIZE_MODES)}, a legacy name "
                     f"({', '.join(RESIZE_MODE_ALIASES)}) or 0..3")


def canonical_control_mode(value: object) -> str:
    """An int (0-2), a name or an enum member name -> the name; ValueError lists the forms."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(CONTROL_MODES):
            return CONTROL_MODES[value]
    elif isinstance(value, str):
        name = _CONTROL_MODE_MEMBERS.get(value.strip(), value.strip())
        if name in CONTROL_MODES:
            return name
    raise ValueError(f"control_mode must be one of {list(CONTROL_MODES)} or 0..2")
