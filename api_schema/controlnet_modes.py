"""ControlNet option names as sd-webui-controlnet spells them (stdlib only: the WebUI panel imports this too)."""

RESIZE_MODES: tuple[str, ...] = ("Just Resize", "Crop and Resize", "Resize and Fill")
CONTROL_MODES: tuple[str, ...] = ("Balanced", "My prompt is more important", "ControlNet is more important")
