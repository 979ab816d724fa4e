"""What the WebUI extension does beyond the shared panel: generation through the cloud in place of the
WebUI's own, fed by the WebUI's processing object `p` and returning its `Processed` result, with the
images saved as the WebUI saves its own; and the cloud's ControlNet models offered in sd-webui-controlnet.

Kept here (not in `webui_extension/`) so that it is plain, testable code; the extension script only
hooks it into the WebUI. `p` is used duck-typed: the attributes below are those of the WebUI's
StableDiffusionProcessingTxt2Img / Img2Img. Scripts are found by title, never by class: the WebUI's
Reload UI re-runs every extension script and so makes new classes, while the process_images wrapper
installed at the first start stays for the life of the process.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sdcloud_client.progress import progress_text
from sdcloud_panel.payload import EXTRA_UNIT_FIELDS, UNIT_FIELDS, PanelError
from sdcloud_panel.service import PanelService
from sdcloud_panel.widgets import CLOUD_FIELDS, NATIVE_FIELDS

PANEL_TITLE = "Amazon SageMaker Inference"
CONTROLNET_TITLE = "ControlNet"  # sd-webui-controlnet's script
CLOUD_MODEL_SUFFIX = " [cloud]"  # how a cloud ControlNet model reads in that extension's Model dropdown
_MODEL_HASH = re.compile(r"\s*\[[^\]]*\]$")  # "control_v11p_sd15_canny [d14c016b]" -> "control_v11p_sd15_canny"
RELOAD_WAIT_SECONDS = 10.0


def bound_reload_wait(demo: Any, _app: Any) -> None:
    """Reload UI closes the WebUI's server, and uvicorn then waits for every request task to end. gradio
    3.41's queue never ends the websocket task of an event whose page closed before the event started, so
    one tab closed at such a moment (the panel's pages fire events by themselves) would hold Reload UI at
    "Reloading..." for ever: past this many seconds the server cancels what is left. A bound the user
    set is kept."""
    config = getattr(getattr(demo, "server", None), "config", None)
    if config is not None and hasattr(config, "timeout_graceful_shutdown") and config.timeout_graceful_shutdown is None:
        config.timeout_graceful_shutdown = RELOAD_WAIT_SECONDS


@dataclass
class CloudRequest:
    task: str
    endpoint: str
    values: dict[str, Any]
    units: list[dict[str, Any]]


@dataclass
class CloudGeneration:
    """What the process-wide wrapper uses, replaced by each (re)load of the extension's script. `state` is the
    WebUI's `shared.state`: its progress bar reads it, its Interrupt button sets `state.interrupted`."""

    service: PanelService
    save: Callable[[Any, list[Any], list[str], list[int], list[str]], None]
    state: Any = None


def webui_progress(state: Any) -> Callable[[dict[str, Any]], None]:
    """Feeds the WebUI's progress bar (`/internal/progress` reads `state`) from the cloud job's progress: the
    job's steps as sampling steps, and in `textinfo` where it waits or how far it is with the server's ETA.
    The WebUI's own ETA counts from `time_start`: set when the job starts running, so queueing is left out."""
    state.job_count, state.job_no = 1, 0
    state.sampling_step, state.sampling_steps = 0, 0
    state.textinfo = "Cloud: submitted"

    def update(job: dict[str, Any]) -> None:
        progress = job.get("progress") or {}
        if progress.get("state") == "running":
            if not state.sampling_steps:
                state.time_start = time.time()
            state.sampling_steps = progress.get("steps") or 0
            state.sampling_step = progress.get("step") or 0
        state.textinfo = f"Cloud: {progress_text(job)}"

    return update


def task_of(p: Any) -> str:
    return "img2img" if getattr(p, "init_images", None) else "txt2img"


def script_args(p: Any, title: str) -> tuple[Any, ...] | None:
    """The values of the AlwaysVisible script called `title` among p's script arguments (None: no such script)."""
    runner = getattr(p, "scripts", None)
    for script in getattr(runner, "alwayson_scripts", None) or []:
        if script.title() == title:
            return tuple(p.script_args[script.args_from : script.args_to])
    return None


def extension_units(p: Any) -> list[dict[str, Any]] | None:
    """The units configured in sd-webui-controlnet's own accordion (its ControlNetUnit objects, or dicts when
    called through the API), as the panel's unit dicts; None when that extension is not installed."""
    args = script_args(p, CONTROLNET_TITLE)
    if args is None:
        return None
    units = [arg for arg in args if isinstance(arg, dict) or hasattr(arg, "enabled")]
    return [_extension_unit(unit) for unit in units]


def _extension_unit(unit: Any) -> dict[str, Any]:
    def value(name: str) -> Any:
        found = unit.get(name) if isinstance(unit, dict) else getattr(unit, name, None)
        return getattr(found, "value", found)  # its ResizeMode / ControlMode enums hold the API's strings

    return {name: value(name) for name in (*UNIT_FIELDS, *EXTRA_UNIT_FIELDS) if value(name) is not None}


def cloud_request(
    p: Any, service: PanelService, panel_args: tuple[Any, ...], extension: list[dict[str, Any]] | None = None
) -> CloudRequest | None:
    """What to run on the cloud for `p`, or None when no endpoint is chosen (the WebUI generates locally).
    `panel_args` are the panel's values: endpoint, CLOUD_FIELDS, then UNIT_FIELDS per panel ControlNet unit;
    `extension` the units of sd-webui-controlnet when it is installed (the panel then has none of its own).
    PanelError when the endpoint is not InService or a unit's model is not on the cloud."""
    endpoint, *rest = panel_args
    if not endpoint:
        return None
    service.require_endpoint(endpoint)
    width = len(UNIT_FIELDS)
    models = dict(zip(CLOUD_FIELDS, rest[: len(CLOUD_FIELDS)], strict=True))
    unit_values = rest[len(CLOUD_FIELDS) :]
    units = [dict(zip(UNIT_FIELDS, unit_values[i : i + width], strict=True)) for i in range(0, len(unit_values), width)]
    if extension is not None:
        units = _on_cloud_models(extension, service)
    values = {name: getattr(p, name) for name in NATIVE_FIELDS}
    task = task_of(p)
    if task == "img2img":
        values["init_image"] = p.init_images[0]
        values["denoising_strength"] = p.denoising_strength
    return CloudRequest(task, endpoint, {**values, **models}, units)


def _on_cloud_models(units: list[dict[str, Any]], service: PanelService) -> list[dict[str, Any]]:
    """sd-webui-controlnet's units with their Model as the cloud names it: `name [cloud]` as offered in its
    dropdown, or a local model's `name [hash]` when a model of that name was uploaded."""
    enabled = [i for i, unit in enumerate(units) if unit.get("enabled") and unit.get("model") not in (None, "", "None")]
    if not enabled:
        return units
    cloud = service.model_names("controlnet")
    by_lower = {name.lower(): name for name in cloud}
    resolved = []
    for index, unit in enumerate(units):
        if index in enabled:
            name = _MODEL_HASH.sub("", unit["model"])
            if name.lower() not in by_lower:
                offered = ", ".join(cloud) or "none uploaded yet"
                raise PanelError(
                    f"ControlNet Unit {index}: model {name} is not on the cloud: upload it in the SD Cloud tab "
                    f"(type controlnet) or pick a cloud one ({offered})"
                )
            unit = {**unit, "model": by_lower[name.lower()]}
        resolved.append(unit)
    return resolved


def cloud_process_images(
    local: Callable[[Any], Any],
    processed_type: Any,
    generation: Callable[[], CloudGeneration],
    wait_timeout: float = 1800.0,
) -> Callable[[Any], Any]:
    """In place of the WebUI's `processing.process_images`: when the panel has an endpoint chosen, `p` is
    submitted to the cloud, waited for (the WebUI's progress bar following the job, its Interrupt cancelling
    it), and its images saved; otherwise it goes to the WebUI's own `local`.
    `generation()` gives the service and saver of the extension's latest load."""

    def process_images(p: Any) -> Any:
        args = script_args(p, PANEL_TITLE)
        current = generation()
        request = cloud_request(p, current.service, args, extension_units(p)) if args else None
        if request is None:
            return local(p)
        label = current.service.submit(request.task, request.endpoint, request.values, request.units)
        state = current.state
        output = current.service.wait(
            label,
            timeout=wait_timeout,
            on_update=webui_progress(state) if state is not None else None,
            cancel_when=(lambda: bool(state.interrupted)) if state is not None else None,
        )
        if output.job["status"] == "cancelled":  # Interrupt: no images, as an interrupted WebUI job before its first
            return processed_type(p, [], seed=p.seed, info=output.message, all_seeds=[p.seed], all_prompts=[],
                                  infotexts=[])
        infotexts = [image.info.get("parameters", output.info) for image in output.images]
        seeds = output.job.get("seeds") or [p.seed]
        seeds = [seeds[min(i, len(seeds) - 1)] for i in range(len(output.images))] or seeds
        prompts = [output.prompt] * len(output.images)
        current.save(p, output.images, infotexts, seeds, prompts)
        return processed_type(
            p,
            output.images,
            seed=seeds[0],
            info=output.info,
            all_seeds=seeds,
            all_prompts=prompts,
            infotexts=infotexts,
        )

    return process_images


_generation: list[CloudGeneration] = []


def install_cloud_generation(processing: Any, generation: CloudGeneration) -> None:
    """Wrap the WebUI's `processing.process_images` once per process; a later call (the script re-run by
    Reload UI) only hands the wrapper the new service and saver."""
    _generation[:] = [generation]
    if getattr(processing.process_images, "sdcloud", False):
        return
    processing.process_images = cloud_process_images(processing.process_images, processing.Processed, _current)
    processing.process_images.sdcloud = True


def _current() -> CloudGeneration:
    return _generation[0]


def webui_saver(images: Any, opts: Any, data_path: str, prompt_history: bool) -> Callable[..., None]:
    """Saves cloud images as the WebUI's process_images saves its own: each image (`opts.samples_save`) and
    the grid of a batch (`opts.grid_save`) through its `images.save_image`, in p's output folders with the
    filename pattern and format of its settings, and the first infotext in `params.txt` (unless the WebUI
    runs with --no-prompt-history)."""

    def save(p: Any, output: list[Any], infotexts: list[str], seeds: list[int], prompts: list[str]) -> None:
        if prompt_history and infotexts:
            with open(os.path.join(data_path, "params.txt"), "w", encoding="utf8") as file:
                file.write(infotexts[0])
        if opts.samples_save and not p.do_not_save_samples:
            for i, image in enumerate(output):
                images.save_image(
                    image, p.outpath_samples, "", seeds[i], prompts[i], opts.samples_format, info=infotexts[i], p=p
                )
        unwanted_grid = len(output) < 2 and opts.grid_only_if_multiple
        if opts.grid_save and output and not p.do_not_save_grid and not unwanted_grid:
            grid = images.image_grid(output, p.batch_size)
            images.save_image(
                grid,
                p.outpath_grids,
                "grid",
                seeds[0],
                prompts[0],
                opts.grid_format,
                info=infotexts[0],
                short_filename=not opts.grid_extended_filename,
                p=p,
                grid=True,
            )

    return save


def offer_cloud_controlnet_models(global_state: Any, service: Callable[[], PanelService]) -> None:
    """sd-webui-controlnet lists its Model dropdown from `global_state.cn_models` (name -> file), rebuilt by
    `update_cn_models()` at start and by the dropdown's refresh button: the cloud's ControlNet models join
    it as `name [cloud]`, with no file (that extension itself cannot load them: generating locally with
    one says "model not found"). Idempotent: a reload wraps the extension's own function again."""
    original = getattr(global_state.update_cn_models, "sdcloud_original", global_state.update_cn_models)

    def update_cn_models() -> None:
        original()
        try:
            names = service().model_names("controlnet")
        except PanelError:
            names = []  # no API set yet, or unreachable: the local models only
        for name in names:
            global_state.cn_models[name + CLOUD_MODEL_SUFFIX] = None

    update_cn_models.sdcloud_original = original  # type: ignore[attr-defined]
    global_state.update_cn_models = update_cn_models
    update_cn_models()
