"""What the WebUI extension does beyond the shared panel: generation through the cloud in place of the
WebUI's own, fed by the WebUI's processing object `p` and returning its `Processed` result.

Kept here (not in `webui_extension/`) so that it is plain, testable code; the extension script only
hooks it into the WebUI. `p` is used duck-typed: the attributes below are those of the WebUI's
StableDiffusionProcessingTxt2Img / Img2Img.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sdcloud_panel.payload import UNIT_FIELDS
from sdcloud_panel.service import PanelService
from sdcloud_panel.ui import CLOUD_FIELDS, NATIVE_FIELDS


@dataclass
class CloudRequest:
    task: str
    endpoint: str
    values: dict[str, Any]
    units: list[dict[str, Any]]


def task_of(p: Any) -> str:
    return "img2img" if getattr(p, "init_images", None) else "txt2img"


def cloud_request(p: Any, service: PanelService, script_args: tuple[Any, ...]) -> CloudRequest | None:
    """What to run on the cloud for `p`, or None when no endpoint is chosen (the WebUI generates locally).
    `script_args` are the panel's values: endpoint, CLOUD_FIELDS, then UNIT_FIELDS per ControlNet unit.
    PanelError when the endpoint is not InService."""
    endpoint, *rest = script_args
    if not endpoint:
        return None
    service.require_endpoint(endpoint)
    width = len(UNIT_FIELDS)
    models = dict(zip(CLOUD_FIELDS, rest[: len(CLOUD_FIELDS)], strict=True))
    unit_values = rest[len(CLOUD_FIELDS) :]
    units = [
        dict(zip(UNIT_FIELDS, unit_values[i : i + width], strict=True))
        for i in range(0, len(unit_values), width)
    ]
    values = {name: getattr(p, name) for name in NATIVE_FIELDS}
    task = task_of(p)
    if task == "img2img":
        values["init_image"] = p.init_images[0]
        values["denoising_strength"] = p.denoising_strength
    return CloudRequest(task, endpoint, {**values, **models}, units)


def cloud_process_images(
    local: Callable[[Any], Any],
    processed_type: Any,
    service: PanelService,
    panel_args: Callable[[Any], tuple[Any, ...] | None],
    wait_timeout: float = 1800.0,
) -> Callable[[Any], Any]:
    """In place of the WebUI's `processing.process_images`: when the panel (whose values `panel_args(p)`
    gives) has an endpoint chosen, `p` is submitted to the cloud and waited for; otherwise it goes to
    the WebUI's own `local` function."""

    def process_images(p: Any) -> Any:
        args = panel_args(p)
        request = cloud_request(p, service, args) if args else None
        if request is None:
            return local(p)
        label = service.submit(request.task, request.endpoint, request.values, request.units)
        output = service.wait(label, timeout=wait_timeout)
        infotexts = [image.info.get("parameters", output.info) for image in output.images]
        seeds = output.job.get("seeds") or [p.seed]
        return processed_type(
            p,
            output.images,
            seed=seeds[0],
            info=output.info,
            all_seeds=seeds,
            all_prompts=[output.prompt] * len(output.images),
            infotexts=infotexts,
        )

    return process_images
