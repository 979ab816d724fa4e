"""The panel's gradio widgets and their events, shared by the WebUI extension and the standalone page."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from api_schema.controlnet_modes import CONTROL_MODES
from api_schema.model_types import MODEL_TYPES
from api_schema.samplers import SAMPLERS
from sdcloud_panel.compat import event_options, periodically
from sdcloud_panel.payload import UNIT_FIELDS, PanelError
from sdcloud_panel.service import NO_VAE_CHOICES, JobOutput, PanelService
from sdcloud_panel.settings import PanelSettings

PREPROCESSORS = ["none", "canny", "openpose", "depth", "lineart", "softedge", "scribble", "mlsd", "normal"]
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
IMG2IMG_FIELDS = ("init_image", "denoising_strength")
JOB_POLL_SECONDS = 1.0
JOB_LIST_SECONDS = 2.0  # the job list refreshes itself this often: new jobs on top, labels to succeed / fail
JOB_WATCH_SECONDS = 900.0

# Per browser session and tab: the job shown in Output, and the generation of the latest job watcher.
_shown_jobs: dict[tuple[str, str], str | None] = {}
_watchers: dict[tuple[str, str], int] = {}
_listed: dict[tuple[str, str], list[str]] = {}  # the job labels last listed


def _watch_key(request: Any, task: str) -> tuple[str, str]:
    return getattr(request, "session_hash", None) or "", task


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
    prompt_out: Any = None
    info_out: Any = None
    save: Any = None
    files: Any = None
    send_to_img2img: Any = None

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
                label="Preprocessor", choices=PREPROCESSORS, value="none", elem_id=eid("module")
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


# --- events ----------------------------------------------------------------------------------------
def _error(exc: PanelError) -> str:
    return f"**Error:** {exc}"


def wire_panel(panel: CloudPanel, service: PanelService, page: gr.Blocks | None = None) -> None:
    """Refresh buttons (also run when `page` loads), job picking and Save; the host wires Generate."""

    def refresh_endpoints(current: str | None) -> tuple[Any, str]:
        try:
            labels = service.endpoint_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        name = current.rsplit(" (", 1)[0] if current else None
        value = next((label for label in labels if label.rsplit(" (", 1)[0] == name), None)
        return _choices(labels, current, value), f"{len(labels)} endpoint(s)"

    _on_click_and_load(
        panel.endpoint_refresh, page, refresh_endpoints, [panel.endpoint], [panel.endpoint, panel.status]
    )

    def refresh_models(*current: Any) -> list[Any]:
        try:
            checkpoints = service.model_names("checkpoint")
            vaes = service.model_names("vae")
            loras = service.model_names("lora")
            controlnets = service.model_names("controlnet")
        except PanelError as exc:
            return [gr.update()] * (3 + len(panel.units)) + [_error(exc)]
        checkpoint, vae, chosen_loras, *unit_models = current
        return [
            gr.update(
                choices=checkpoints,
                value=checkpoint if checkpoint in checkpoints else (checkpoints[0] if checkpoints else None),
            ),
            gr.update(choices=NO_VAE_CHOICES + vaes, value=vae if vae in NO_VAE_CHOICES + vaes else "Automatic"),
            gr.update(choices=loras, value=[name for name in chosen_loras or [] if name in loras]),
            *[gr.update(choices=["None", *controlnets], value=m if m in controlnets else "None") for m in unit_models],
            f"{len(checkpoints)} checkpoint(s), {len(vaes)} VAE(s), {len(loras)} LoRA(s), "
            f"{len(controlnets)} ControlNet model(s)",
        ]

    unit_models = [unit["model"] for unit in panel.units]
    _on_click_and_load(
        panel.models_refresh,
        page,
        refresh_models,
        [*panel.model_inputs, *unit_models],
        [*panel.model_inputs, *unit_models, panel.status],
    )

    def job_choices(labels: list[str], current: str | None) -> Any:
        ident = current.rsplit(" -> ", 1)[-1] if current else None
        value = next((label for label in labels if label.endswith(f" -> {ident}")), None) if ident else None
        return _choices(labels, current, value)

    def refresh_jobs(current: str | None) -> tuple[Any, str]:
        try:
            labels = service.job_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        return job_choices(labels, current), f"{len(labels)} job(s)"

    _on_click_and_load(panel.job_refresh, page, refresh_jobs, [panel.job], [panel.job, panel.status])

    def follow_jobs(request: gr.Request) -> Any:
        """New jobs on top, the shown job's label moving on; an unchanged list is left alone."""
        key = _watch_key(request, panel.task)
        try:
            labels = service.job_labels()
        except PanelError:
            return gr.update()
        if labels == _listed.get(key):
            return gr.update()
        _listed[key] = labels
        return job_choices(labels, _shown_jobs.get(key))

    periodically(page, JOB_LIST_SECONDS, follow_jobs, [panel.job], panel.eid("job_follow"))

    outputs = [panel.gallery, panel.prompt_out, panel.info_out, panel.status]

    def show_job(request: gr.Request, label: str | None) -> Any:
        """Fill Output with the job as it is now (quick: it always runs, even while a watcher does)."""
        _shown_jobs[_watch_key(request, panel.task)] = label
        if not label:
            return gr.update(), gr.update(), gr.update(), gr.update()
        try:
            return _output_updates(service.job_output(label))
        except PanelError as exc:
            return gr.update(), gr.update(), gr.update(), _error(exc)

    def watch(request: gr.Request) -> Any:
        """Follow the session's shown job until it ends, whichever job that becomes meanwhile.

        gradio 3 drops a trigger of an event that is still running, so one watcher must follow later
        picks and submissions; where a newer watcher does start (current gradio), the older one stops.
        """
        key = _watch_key(request, panel.task)
        generation = _watchers[key] = _watchers.get(key, 0) + 1
        deadline = time.monotonic() + JOB_WATCH_SECONDS
        shown: tuple[str, str] | None = None
        while _watchers.get(key) == generation and time.monotonic() < deadline:
            label = _shown_jobs.get(key)
            if not label:
                return
            try:
                output = service.job_output(label)
            except PanelError as exc:
                yield gr.update(), gr.update(), gr.update(), _error(exc)
                return
            if (label, output.job["status"]) != shown:
                shown = (label, output.job["status"])
                yield _output_updates(output)
            if output.finished and _shown_jobs.get(key) == label:
                return
            time.sleep(JOB_POLL_SECONDS)

    panel.job.change(show_job, [panel.job], outputs, **event_options()).then(
        watch, None, outputs, **event_options(then=True)
    )

    def save(label: str | None) -> tuple[Any, str]:
        try:
            paths = service.save_images(label)
        except PanelError as exc:
            return gr.update(visible=False), _error(exc)
        return gr.update(value=paths, visible=True), f"Saved {len(paths)} image(s)"

    panel.save.click(save, [panel.job], [panel.files, panel.status])


def _choices(labels: list[str], current: str | None, value: str | None) -> Any:
    """New choices; the value is only touched when one was chosen (a pick made meanwhile stays)."""
    return gr.update(choices=labels, value=value) if current else gr.update(choices=labels)


def _on_click_and_load(button: Any, page: gr.Blocks | None, fn: Any, inputs: list[Any], outputs: list[Any]) -> None:
    """`fn` reports in the status line (the last output) when clicked; on page load it only fills lists."""
    button.click(fn, inputs, outputs)
    if page is not None:
        page.load(lambda *args: [*fn(*args)[:-1], gr.update()], inputs, outputs)


def _output_updates(output: JobOutput) -> tuple[Any, Any, Any, str]:
    if output.job["status"] != "succeeded":
        return gr.update(value=[], visible=False), "", "", output.message
    return gr.update(value=output.images, visible=True), output.prompt, output.info, output.message


def wire_generate(panel: CloudPanel, service: PanelService, button: Any, native: dict[str, Any] | None) -> None:
    """Generate on Cloud: check the endpoint, submit, put the new job on top of the list and show it.
    `native` holds the standalone page's parameter widgets; None when the host submits itself (WebUI)."""

    def label_for(endpoint: str | None) -> Any:
        return gr.update(value=service.button_label(endpoint))

    panel.endpoint.change(label_for, [panel.endpoint], [button])
    if native is None:
        return
    names = list(native)
    model_count = len(panel.model_inputs)

    def generate(request: gr.Request, endpoint: str | None, *args: Any) -> tuple[Any, str]:
        native_values = dict(zip(names, args[: len(names)], strict=True))
        models, units = panel.values(args[len(names) : len(names) + model_count], args[len(names) + model_count :])
        try:
            label = service.submit(panel.task, endpoint, {**native_values, **models}, units)
            labels = service.job_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        _shown_jobs[_watch_key(request, panel.task)] = label  # a running watcher follows the new job
        return gr.update(choices=labels, value=label), f"Submitted: {label}"

    button.click(
        generate,
        [panel.endpoint, *native.values(), *panel.model_inputs, *panel.unit_inputs],
        [panel.job, panel.status],
        **event_options(),
    )


def wire_send_to_img2img(
    panel: CloudPanel, service: PanelService, targets: dict[str, Any], tabs: Any, tab_id: str = "img2img"
) -> None:
    """Carry the shown job's first image and its parameters into the img2img tab and switch to it.
    `targets` maps `init_image` and WebUI API parameter names to the img2img widgets."""
    names = list(targets)

    def send(label: str | None) -> list[Any]:
        try:
            output = service.job_output(label)
        except PanelError as exc:
            return [gr.update()] * (len(names) + 1) + [_error(exc)]
        if not output.images:
            return [gr.update()] * (len(names) + 1) + [_error(PanelError("The job has no image to send"))]
        params = {**(output.job.get("parameters") or {}), "init_image": output.images[0]}
        if output.job.get("seeds"):
            params["seed"] = output.job["seeds"][0]
        values = [gr.update(value=params[name]) if name in params else gr.update() for name in names]
        return [*values, gr.update(selected=tab_id), f"Sent {output.job['id']} to img2img"]

    panel.send_to_img2img.click(send, [panel.job], [*targets.values(), tabs, panel.status])


def _key_note(settings: PanelSettings) -> str:
    if not settings.api_key:
        return "No API key saved yet."
    return f"An API key is saved (ending in `{settings.api_key[-4:]}`): leave the field empty to keep it."


def build_settings(service: PanelService, with_unit_count: bool) -> None:
    """API URL and key with a connection test, and model upload with a progress bar. The form shows what is
    saved each time the page loads; the key itself never goes back to the browser, an empty field keeps it."""
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
        key_note = gr.Markdown(lambda: _key_note(service.store.load()), elem_id="sdcloud_api_key_note")
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

    def save_and_test(api_url: str, api_key: str, unit_count: float | None = None) -> tuple[str, str, str, str]:
        changes: dict[str, Any] = {"api_url": api_url.strip().rstrip("/"), "api_key": api_key.strip()}
        if unit_count is not None:
            changes["controlnet_units"] = int(unit_count)
        saved = service.store.save(**changes)
        if not saved.api_url:
            return saved.api_url, "", _key_note(saved), _error(PanelError("No API URL: enter the sd-cloud API's URL"))
        return saved.api_url, "", _key_note(saved), service.test_connection(saved.api_url, saved.api_key)

    test.click(save_and_test, [url, key] + ([units] if units is not None else []), [url, key, key_note, result])

    with gr.Group():
        gr.Markdown("### Upload a model to the cloud")
        path = gr.Textbox(
            label="Local model file", placeholder="/path/to/model.safetensors", elem_id="sdcloud_upload_path"
        )
        with gr.Row():
            name = gr.Textbox(label="Name in the cloud (default: the file name)", elem_id="sdcloud_upload_name")
            type = gr.Dropdown(label="Type", choices=list(MODEL_TYPES), value="checkpoint",
                               elem_id="sdcloud_upload_type")
        upload = gr.Button("Upload", elem_id="sdcloud_upload")
        uploaded = gr.Markdown("", elem_id="sdcloud_upload_result")

    def upload_model(path: str, name: str, type: str, progress: Any = gr.Progress()) -> str:  # noqa: B008
        def report(sent: int, total: int) -> None:
            progress((sent, total), desc="Uploading", unit="bytes")

        try:
            return service.upload_model(path, name, type, report)
        except PanelError as exc:
            return _error(exc)

    upload.click(upload_model, [path, name, type], [uploaded])
