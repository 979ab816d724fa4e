"""sd-cloud in the AUTOMATIC1111 WebUI: the "Amazon SageMaker Inference" panel in txt2img and img2img.

The glue only: the panel, its events and the cloud generation live in `sdcloud_panel`. WebUI surface
used (and mirrored by the test stand-in, tests/unit/panel/webui_standin): modules.scripts (Script,
AlwaysVisible, basedir, scripts_data), modules.script_callbacks (on_ui_tabs, on_app_started), modules.shared
(opts, cmd_opts, and state: what the progress bar reads, what Interrupt sets), modules.processing
(process_images, Processed), modules.images (save_image, image_grid), modules.paths (data_path),
modules.generation_parameters_copypaste (ParamBinding, register_paste_params_button); and, when installed,
sd-webui-controlnet's script module (its `global_state`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import Context
from modules import generation_parameters_copypaste, images, paths, processing, script_callbacks, scripts, shared

from sdcloud_panel.service import PanelService
from sdcloud_panel.settings import SettingsStore, move_legacy_settings, user_settings_path
from sdcloud_panel.webui import (
    PANEL_TITLE,
    CloudGeneration,
    bound_reload_wait,
    install_cloud_generation,
    offer_cloud_controlnet_models,
    webui_saver,
)
from sdcloud_panel.widgets import build_cloud_panel, build_output, build_settings
from sdcloud_panel.wiring import wire_generate, wire_panel, wire_settings

SETTINGS_FILE = user_settings_path("webui.json")
move_legacy_settings(Path(scripts.basedir()) / "sdcloud.json", SETTINGS_FILE)
service = PanelService(SettingsStore(SETTINGS_FILE))


def _controlnet_state() -> Any:
    """sd-webui-controlnet's `global_state` module when that extension is loaded, else None."""
    for data in scripts.scripts_data:
        state = getattr(data.module, "global_state", None)
        if hasattr(state, "update_cn_models") and hasattr(state, "cn_models"):
            return state
    return None


class SdCloudScript(scripts.Script):
    def __init__(self) -> None:
        self.generate_buttons: dict[str, Any] = {}

    def title(self) -> str:
        return PANEL_TITLE

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def after_component(self, component: Any, **kwargs: Any) -> None:
        elem_id = kwargs.get("elem_id")
        if elem_id in ("txt2img_generate", "img2img_generate"):
            self.generate_buttons[elem_id.split("_")[0]] = component

    def ui(self, is_img2img: bool) -> list[Any]:
        task = "img2img" if is_img2img else "txt2img"
        controlnet = _controlnet_state()
        if controlnet is not None:
            # Its accordion holds the units: the panel has none of its own, the cloud's models join its list.
            offer_cloud_controlnet_models(controlnet, lambda: service)
            units = 0
        else:
            units = int(shared.opts.data.get("control_net_unit_count", service.store.load().controlnet_units))
        panel = build_cloud_panel(task, units)
        build_output(panel)
        # The tab's Blocks: its load events (lists filled, the job list following itself) run at each page load
        wire_panel(panel, service, Context.root_block)
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


# The WebUI's txt2img and img2img call processing.process_images(p); with an endpoint chosen, the cloud runs p.
install_cloud_generation(
    processing,
    CloudGeneration(
        service,
        webui_saver(images, shared.opts, paths.data_path, not shared.cmd_opts.no_prompt_history),
        shared.state,
    ),
)


def _settings_tab() -> list[tuple[Any, str, str]]:
    with gr.Blocks(analytics_enabled=False) as tab:
        wire_settings(build_settings(service, with_unit_count=False), service)
    return [(tab, "SD Cloud", "sdcloud")]


script_callbacks.on_ui_tabs(_settings_tab)
script_callbacks.on_app_started(bound_reload_wait)
