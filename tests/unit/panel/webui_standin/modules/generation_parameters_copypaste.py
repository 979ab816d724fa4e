"""Stand-in of modules/generation_parameters_copypaste.py: "Send to ..." buttons the WebUI wires itself
(it parses the infotext into the target tab's fields and copies the image)."""

from typing import Any

registered_param_bindings: list["ParamBinding"] = []


class ParamBinding:
    def __init__(
        self,
        paste_button: Any,
        tabname: str,
        source_text_component: Any = None,
        source_image_component: Any = None,
        source_tabname: Any = None,
        override_settings_component: Any = None,
        paste_field_names: Any = None,
    ) -> None:
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component


def register_paste_params_button(binding: ParamBinding) -> None:
    registered_param_bindings.append(binding)
