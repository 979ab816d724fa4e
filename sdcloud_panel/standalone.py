"""`sdcloud ui`: the panel as a web page of its own, with txt2img and img2img tabs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from sdcloud_panel.compat import blocks_css, enable_queue
from sdcloud_panel.service import GENERATE, PanelService
from sdcloud_panel.settings import SettingsStore
from sdcloud_panel.widgets import NATIVE_FIELDS, build_cloud_panel, build_output, build_settings, native_parameters
from sdcloud_panel.wiring import wire_generate, wire_panel, wire_send_to_img2img, wire_settings

SETTINGS_FILE = Path(".sdcloud") / "panel.json"


def build(service: PanelService) -> gr.Blocks:
    unit_count = service.store.load().controlnet_units
    with gr.Blocks(title="sd-cloud", **blocks_css()) as page:
        with gr.Tabs(elem_id="tabs") as tabs:
            panels = {}
            natives = {}
            for task in ("txt2img", "img2img"):
                with gr.Tab(task, id=task, elem_id=f"tab_{task}"):
                    with gr.Row():
                        with gr.Column(scale=6):
                            prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"sdcloud_{task}_prompt")
                            negative = gr.Textbox(
                                label="Negative prompt", lines=2, elem_id=f"sdcloud_{task}_negative_prompt"
                            )
                        with gr.Column(scale=1):
                            button = gr.Button(GENERATE, variant="primary", elem_id=f"sdcloud_{task}_generate")
                            interrupt = gr.Button("Interrupt", elem_id=f"sdcloud_{task}_interrupt")
                    with gr.Row():
                        with gr.Column():
                            native = {
                                "prompt": prompt,
                                "negative_prompt": negative,
                                **native_parameters(task),
                            }
                            panel = build_cloud_panel(task, unit_count)
                        with gr.Column():
                            build_output(panel)
                    wire_panel(panel, service, page)
                    wire_generate(panel, service, button, native, interrupt)
                    panels[task], natives[task] = panel, native
            with gr.Tab("Cloud settings", id="settings", elem_id="tab_settings"):
                wire_settings(build_settings(service, with_unit_count=True), service)
        targets = {name: natives["img2img"][name] for name in ("init_image", *NATIVE_FIELDS)}
        for panel in panels.values():
            wire_send_to_img2img(panel, service, targets, tabs)
    return page


def launch(
    port: int = 7860,
    api_url: str | None = None,
    api_key: str | None = None,
    settings_file: Path = SETTINGS_FILE,
    block: bool = True,
) -> gr.Blocks:
    """Serve the panel on 127.0.0.1:`port`. The API comes from the arguments, else the settings saved in
    the page's Cloud settings tab (`settings_file`), else API_URL / API_KEY or `.sdcloud/local.json`
    (where `sdcloud local up` writes the local stack's URL and admin key)."""
    store = SettingsStore(settings_file, api_url=api_url, api_key=api_key)
    page = build(PanelService(store))
    enable_queue(page)
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=not block, inbrowser=False)
    return page
