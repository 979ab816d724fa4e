"""The panel's gradio widgets, shared by the WebUI extension and the standalone page (`wiring` gives them
their events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from api_schema.controlnet_modes import CONTROL_MODES
from api_schema.model_types import MODEL_TYPES
from api_schema.preprocessors import PREPROCESSORS
from api_schema.samplers import SAMPLERS
from sdcloud_panel.payload import UNIT_FIELDS
from sdcloud_panel.service import NO_VAE_CHOICES, PanelService
from sdcloud_panel.sessions import Session
from sdcloud_panel.settings import PanelSettings

NATIVE_FIELDS = (
    "prompt",
    "negative_prompt",
    "sampler_name",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "seed",
    "batch_size",
    "n_iter",
)
CLOUD_FIELDS = ("checkpoint", "vae", "loras")


@dataclass
class CloudPanel:
    """The "Amazon SageMaker Inference" panel of one tab (txt2img or img2img)."""

    task: str
    endpoint: Any = None
    endpoint_refresh: Any = None
    checkpoint: Any = None
    vae: Any = None
    loras: Any = None
    models_refresh: Any = None
    job: Any = None
    job_refresh: Any = None
    status: Any = None
    units: list[dict[str, Any]] = field(default_factory=list)
    gallery: Any = None
    progress: Any = None
    prompt_out: Any = None
    info_out: Any = None
    save: Any = None
    files: Any = None
    send_to_img2img: Any = None
    session: Any = None  # gr.State(Session()): per page, the shown job and its watcher

    def eid(self, name: str) -> str:
        return f"sdcloud_{self.task}_{name}"

    @property
    def unit_inputs(self) -> list[Any]:
        return [unit[name] for unit in self.units for name in UNIT_FIELDS]

    @property
    def model_inputs(self) -> list[Any]:
        return [self.checkpoint, self.vae, self.loras]

    def values(self, model_values: tuple[Any, ...], unit_values: tuple[Any, ...]) -> tuple[dict, list[dict]]:
        models = dict(zip(CLOUD_FIELDS, model_values, strict=True))
        width = len(UNIT_FIELDS)
        units = [
            dict(zip(UNIT_FIELDS, unit_values[i : i + width], strict=True)) for i in range(0, len(unit_values), width)
        ]
        return models, units


def refresh_icon_button(elem_id: str) -> Any:
    """A small refresh button beside a dropdown; in the WebUI its `tool` class makes it look like the WebUI's own."""
    if _has_scale():
        return gr.Button("\U0001f504", elem_id=elem_id, elem_classes=["tool"], min_width=40, scale=0)
    return gr.Button("\U0001f504", elem_id=elem_id, elem_classes=["tool"])


def unrecorded(*components: Any) -> None:
    """Values a host must not record and re-apply: cloud lists and credentials (the WebUI's ui-config.json
    skips a component so marked)."""
    for component in components:
        component.do_not_save_to_config = True


def _has_scale() -> bool:
    import inspect

    return "scale" in inspect.signature(gr.Button.__init__).parameters


def build_cloud_panel(task: str, unit_count: int) -> CloudPanel:
    panel = CloudPanel(task)
    panel.session = gr.State(Session())
    with gr.Accordion("Amazon SageMaker Inference", open=True, elem_id=panel.eid("panel")):
        with gr.Row(elem_classes=["form"]):
            panel.endpoint = gr.Dropdown(
                label="Select Cloud SageMaker Endpoint", choices=[], value=None, elem_id=panel.eid("endpoint")
            )
            panel.endpoint_refresh = refresh_icon_button(panel.eid("endpoint_refresh"))
        with gr.Row(elem_classes=["form"]):
            panel.checkpoint = gr.Dropdown(
                label="Stable Diffusion checkpoint (cloud)", choices=[], elem_id=panel.eid("checkpoint")
            )
            panel.vae = gr.Dropdown(
                label="SD VAE (cloud)", choices=NO_VAE_CHOICES, value="Automatic", elem_id=panel.eid("vae")
            )
            panel.loras = gr.Dropdown(label="LoRA (cloud)", choices=[], multiselect=True, elem_id=panel.eid("loras"))
            panel.models_refresh = refresh_icon_button(panel.eid("models_refresh"))
        with gr.Row(elem_classes=["form"]):
            panel.job = gr.Dropdown(
                label="Inference Job: Time-Type-Status-Uuid", choices=[], value=None, elem_id=panel.eid("job")
            )
            panel.job_refresh = refresh_icon_button(panel.eid("job_refresh"))
        panel.status = gr.Markdown("", elem_id=panel.eid("status"))
    if unit_count:
        with gr.Accordion("ControlNet", open=False, elem_id=panel.eid("controlnet")):
            for index in range(unit_count):
                panel.units.append(_controlnet_unit(panel, index))
    unrecorded(panel.endpoint, panel.checkpoint, panel.vae, panel.loras, panel.job, *[u["model"] for u in panel.units])
    return panel


def _controlnet_unit(panel: CloudPanel, index: int) -> dict[str, Any]:
    def eid(name: str) -> str:
        return panel.eid(f"cn{index}_{name}")

    with gr.Accordion(f"ControlNet Unit {index}", open=True, elem_id=eid("unit")):
        unit: dict[str, Any] = {"image": gr.Image(label="Image", type="pil", elem_id=eid("image"))}
        with gr.Row():
            unit["enabled"] = gr.Checkbox(label="Enable", value=False, elem_id=eid("enabled"))
            unit["module"] = gr.Dropdown(
                label="Preprocessor", choices=list(PREPROCESSORS), value="none", elem_id=eid("module")
            )
            unit["model"] = gr.Dropdown(label="Model", choices=["None"], value="None", elem_id=eid("model"))
        with gr.Row():
            unit["weight"] = gr.Slider(
                label="Control Weight", minimum=0, maximum=2, step=0.05, value=1.0, elem_id=eid("weight")
            )
            unit["guidance_start"] = gr.Slider(
                label="Starting Control Step",
                minimum=0,
                maximum=1,
                step=0.01,
                value=0,
                elem_id=eid("guidance_start"),
            )
            unit["guidance_end"] = gr.Slider(
                label="Ending Control Step",
                minimum=0,
                maximum=1,
                step=0.01,
                value=1,
                elem_id=eid("guidance_end"),
            )
        unit["control_mode"] = gr.Radio(
            label="Control Mode",
            choices=list(CONTROL_MODES),
            value=CONTROL_MODES[0],
            elem_id=eid("control_mode"),
        )
    return unit


def build_output(panel: CloudPanel, img2img_target: bool = True) -> None:
    with gr.Group(elem_id=panel.eid("output")):
        # Shown with a job's images only: empty, it would take a large box
        panel.gallery = gr.Gallery(label="Output", visible=False, elem_id=panel.eid("gallery"))
        panel.progress = gr.HTML("", elem_id=panel.eid("progress"))  # the shown job's steps while it runs
        panel.prompt_out = gr.Textbox(label="Prompt", interactive=False, elem_id=panel.eid("prompt_out"))
        panel.info_out = gr.Textbox(label="Infotext", lines=2, interactive=False, elem_id=panel.eid("info_out"))
        with gr.Row():
            panel.save = gr.Button("Save", elem_id=panel.eid("save"))
            if img2img_target:
                panel.send_to_img2img = gr.Button("Send to img2img", elem_id=panel.eid("send_to_img2img"))
        panel.files = gr.File(label="Saved images", file_count="multiple", visible=False, elem_id=panel.eid("files"))


def native_parameters(task: str) -> dict[str, Any]:
    """The WebUI's own txt2img / img2img parameters, for the standalone page (the WebUI has its own)."""

    def eid(name: str) -> str:
        return f"sdcloud_{task}_{name}"

    params: dict[str, Any] = {}
    if task == "img2img":
        params["init_image"] = gr.Image(label="Image for img2img", type="pil", elem_id=eid("init_image"))
        params["denoising_strength"] = gr.Slider(
            label="Denoising strength",
            minimum=0,
            maximum=1,
            step=0.01,
            value=0.75,
            elem_id=eid("denoising_strength"),
        )
    with gr.Row():
        params["sampler_name"] = gr.Dropdown(
            label="Sampling method", choices=list(SAMPLERS), value="Euler a", elem_id=eid("sampler_name")
        )
        params["steps"] = gr.Slider(
            label="Sampling steps", minimum=1, maximum=150, step=1, value=20, elem_id=eid("steps")
        )
    with gr.Row():
        params["width"] = gr.Slider(label="Width", minimum=64, maximum=2048, step=8, value=512, elem_id=eid("width"))
        params["height"] = gr.Slider(label="Height", minimum=64, maximum=2048, step=8, value=512, elem_id=eid("height"))
    with gr.Row():
        params["n_iter"] = gr.Slider(label="Batch count", minimum=1, maximum=16, step=1, value=1, elem_id=eid("n_iter"))
        params["batch_size"] = gr.Slider(
            label="Batch size", minimum=1, maximum=8, step=1, value=1, elem_id=eid("batch_size")
        )
    with gr.Row():
        params["cfg_scale"] = gr.Slider(
            label="CFG Scale", minimum=1, maximum=30, step=0.5, value=7, elem_id=eid("cfg_scale")
        )
        params["seed"] = gr.Number(label="Seed", value=-1, precision=0, elem_id=eid("seed"))
    return params


@dataclass
class SettingsForm:
    """API URL and key with a connection test, and model upload."""

    url: Any
    key: Any
    key_note: Any
    units: Any  # the ControlNet unit count; None where the host has its own (the WebUI)
    test: Any
    result: Any
    upload_path: Any
    upload_name: Any
    upload_type: Any
    upload: Any
    uploaded: Any


def key_note(settings: PanelSettings) -> str:
    if not settings.api_key:
        return "No API key saved yet."
    return f"An API key is saved (ending in `{settings.api_key[-4:]}`): leave the field empty to keep it."


def build_settings(service: PanelService, with_unit_count: bool) -> SettingsForm:
    """The form shows what is saved each time the page loads; the key itself never goes back to the browser."""
    settings = service.store.load()
    with gr.Group():
        gr.Markdown("### Cloud API")
        url = gr.Textbox(label="API URL", value=lambda: service.store.load().api_url, elem_id="sdcloud_api_url")
        key = gr.Textbox(
            label="API key",
            value="",
            type="password",
            placeholder="leave empty to keep the saved key",
            elem_id="sdcloud_api_key",
        )
        note = gr.Markdown(lambda: key_note(service.store.load()), elem_id="sdcloud_api_key_note")
        unrecorded(url, key)
        units = None
        if with_unit_count:
            units = gr.Slider(
                label="Multi ControlNet: Max models amount (requires restart)",
                minimum=1,
                maximum=10,
                step=1,
                value=settings.controlnet_units,
                elem_id="sdcloud_controlnet_units",
            )
        test = gr.Button("Save and test connection", elem_id="sdcloud_test_connection")
        result = gr.Markdown("", elem_id="sdcloud_connection_result")
    with gr.Group():
        gr.Markdown("### Upload a model to the cloud")
        path = gr.Textbox(
            label="Local model file", placeholder="/path/to/model.safetensors", elem_id="sdcloud_upload_path"
        )
        with gr.Row():
            name = gr.Textbox(label="Name in the cloud (default: the file name)", elem_id="sdcloud_upload_name")
            type = gr.Dropdown(
                label="Type", choices=list(MODEL_TYPES), value="checkpoint", elem_id="sdcloud_upload_type"
            )
        upload = gr.Button("Upload", elem_id="sdcloud_upload")
        uploaded = gr.Markdown("", elem_id="sdcloud_upload_result")
    return SettingsForm(url, key, note, units, test, result, path, name, type, upload, uploaded)
