"""sd-cloud in the AUTOMATIC1111 WebUI: the "Amazon SageMaker Inference" panel in txt2img and img2img.

The glue only: the panel, its events and the cloud generation live in `sdcloud_panel`. WebUI surface
used (and mirrored by the test stand-in, tests/unit/panel/webui_standin): modules.scripts (Script,
AlwaysVisible, basedir), modules.script_callbacks (on_ui_tabs), modules.shared (opts.data),
modules.processing (process_images, Processed), modules.generation_parameters_copypaste
(ParamBinding, register_paste_params_button).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from modules import generation_parameters_copypaste, processing, script_callbacks, scripts, shared

from sdcloud_panel.service import PanelService
from sdcloud_panel.settings import SettingsStore
from sdcloud_panel.ui import build_cloud_panel, build_output, build_settings, wire_generate, wire_panel
from sdcloud_panel.webui import cloud_process_images

service = PanelService(SettingsStore(Path(scripts.basedir()) / "sdcloud.json"))


class SdCloudScript(scripts.Script):
    def __init__(self) -> None:
        self.generate_buttons: dict[str, Any] = {}

    def title(self) -> str:
        return "Amazon SageMaker Inference"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def after_component(self, component: Any, **kwargs: Any) -> None:
        elem_id = kwargs.get("elem_id")
        if elem_id in ("txt2img_generate", "img2img_generate"):
            self.generate_buttons[elem_id.split("_")[0]] = component

    def ui(self, is_img2img: bool) -> list[Any]:
        task = "img2img" if is_img2img else "txt2img"
        units = int(shared.opts.data.get("control_net_unit_count", service.store.load().controlnet_units))
        panel = build_cloud_panel(task, units)
        build_output(panel)
        wire_panel(panel, service)
        if task in self.generate_buttons:
            wire_generate(panel, service, self.generate_buttons[task], native=None)
        generation_parameters_copypaste.register_paste_params_button(
            generation_parameters_copypaste.ParamBinding(
                paste_button=panel.send_to_img2img,
                tabname="img2img",
                source_text_component=panel.info_out,
                source_image_component=panel.gallery,
            )
        )
        return [panel.endpoint, *panel.model_inputs, *panel.unit_inputs]


def _panel_args(p: Any) -> tuple[Any, ...] | None:
    """This script's values among the WebUI's script arguments of `p`."""
    for script in getattr(p.scripts, "alwayson_scripts", []) if p.scripts else []:
        if isinstance(script, SdCloudScript):
            return tuple(p.script_args[script.args_from : script.args_to])
    return None


# WebUI txt2img and img2img call processing.process_images(p); with an endpoint chosen, the cloud runs p.
if not getattr(processing.process_images, "sdcloud", False):
    processing.process_images = cloud_process_images(
        processing.process_images, processing.Processed, service, _panel_args
    )
    processing.process_images.sdcloud = True


def _settings_tab() -> list[tuple[Any, str, str]]:
    with gr.Blocks(analytics_enabled=False) as tab:
        build_settings(service, with_unit_count=False)
    return [(tab, "SD Cloud", "sdcloud")]


script_callbacks.on_ui_tabs(_settings_tab)
