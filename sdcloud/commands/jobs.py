"""`sdcloud txt2img|img2img` (submit, optionally wait and download) and `sdcloud jobs ...`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from api_schema.samplers import SCHEDULE_TYPES
from sdcloud.commands.common import client_of, console, step_progress, table
from sdcloud.payload_options import build_payload, load_payload
from sdcloud_client import ApiError, SdCloudClient
from sdcloud_client.progress import progress_text

jobs = typer.Typer(help="Inference jobs: list, show, wait (with a step progress bar), cancel, delete.",
                   no_args_is_help=True)

PayloadOption = Annotated[Path | None, typer.Option("--payload", help="a WebUI API body (JSON file); options "
                                                                     "given on the command line override it")]
EndpointOption = Annotated[str | None, typer.Option("--endpoint", "-e", envvar="SDCLOUD_ENDPOINT",
                                                    help="default: the only InService endpoint")]
PromptOption = Annotated[str | None, typer.Option("--prompt", "-p", help="<lora:name:weight> tags work")]
NegativeOption = Annotated[str | None, typer.Option("--negative-prompt", "-n")]
SamplerOption = Annotated[str | None, typer.Option("--sampler", help="WebUI sampler name, e.g. 'Euler a'")]
SchedulerOption = Annotated[str | None, typer.Option(help=", ".join(SCHEDULE_TYPES))]
StepsOption = Annotated[int | None, typer.Option()]
CfgOption = Annotated[float | None, typer.Option("--cfg-scale")]
SizeOption = Annotated[int | None, typer.Option()]
SeedOption = Annotated[int | None, typer.Option(help="-1: random")]
CountOption = Annotated[int | None, typer.Option()]
CheckpointOption = Annotated[str | None, typer.Option("--checkpoint", "-m", help="checkpoint model name")]
VaeOption = Annotated[str | None, typer.Option("--vae", help="VAE model name, Automatic or None")]
ClipSkipOption = Annotated[int | None, typer.Option("--clip-skip")]
ControlNetOption = Annotated[list[str] | None, typer.Option(
    "--controlnet", help="repeatable: module=canny,model=NAME,image=PATH,weight=1.0[,guidance_start=..]")]
WaitOption = Annotated[bool, typer.Option("--wait", help="wait for the result, with a progress bar of the "
                                                       "denoising steps, the ETA and, while queued, the position")]
OutOption = Annotated[Path | None, typer.Option("--out", help="write the PNGs here (implies --wait)")]
TimeoutOption = Annotated[float, typer.Option(help="seconds to wait")]
WebhookOption = Annotated[str | None, typer.Option(
    "--webhook-url", help="POST the job's JSON here when it ends, signed with your webhook secret "
    "(sdcloud users webhook-secret); https to a public host")]


@jobs.command("list")
def jobs_list(ctx: typer.Context,
              limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
              status: Annotated[str | None, typer.Option()] = None,
              task: Annotated[str | None, typer.Option()] = None) -> None:
    """Your jobs, newest first: time -> type -> status -> id."""
    page = client_of(ctx).list_inferences(limit=limit, status=status, task=task)
    print_jobs(page["inferences"])


def print_jobs(inferences: list[dict[str, Any]]) -> None:
    rows = [(j["created_at"][:19].replace("T", " "), j["task"], j["status"], j["id"], j["endpoint_name"])
            for j in inferences]
    console.print(table("jobs", ("time (UTC)", "type", "status", "id", "endpoint"), rows))


@jobs.command("show")
def jobs_show(ctx: typer.Context, job_id: str) -> None:
    """The job as JSON: status, parameters, infotext, image URLs, error."""
    console.print_json(json.dumps(client_of(ctx).get_inference(job_id)))


@jobs.command("delete")
def jobs_delete(ctx: typer.Context, job_id: str) -> None:
    """Delete the job and its images."""
    client_of(ctx).delete_inference(job_id)
    console.print(f"deleted job {job_id}")


@jobs.command("wait")
def jobs_wait(ctx: typer.Context, job_id: str, out: OutOption = None, timeout: TimeoutOption = 900.0) -> None:
    """Wait for a job to end, showing its steps, ETA and queue position; with --out, download its PNGs."""
    finish(client_of(ctx), job_id, out, timeout)


@jobs.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: str) -> None:
    """Cancel a job that has not ended: at once while queued, at its next step while running."""
    job = client_of(ctx).cancel_inference(job_id)
    console.print(f"job {job_id} {job['status']}")


def finish(client: SdCloudClient, job_id: str, out: Path | None, timeout: float, interval: float = 1.0
           ) -> dict[str, Any]:
    """Wait with a live progress bar; print the result, write PNGs to `out`; exit 1 unless the job succeeded."""
    started = time.monotonic()
    with step_progress() as bar:
        task = bar.add_task(f"job {job_id[:8]}", total=None, detail="waiting")

        def show(job: dict[str, Any]) -> None:
            progress = job.get("progress") or {}
            if progress.get("state") == "running":
                bar.update(task, total=progress.get("steps"), completed=progress.get("step", 0))
            bar.update(task, detail=progress_text(job))

        job = client.wait_inference(job_id, poll_interval=interval, timeout=timeout, on_update=show)
    elapsed = time.monotonic() - started
    if job["status"] != "succeeded":
        reason = f": {job['error']}" if job.get("error") else ""
        console.print(f"[red]job {job_id} {job['status']} after {elapsed:.1f}s{escape(reason)}[/red]")
        raise typer.Exit(1)
    console.print(f"job {job_id} [green]succeeded[/green] after {elapsed:.1f}s, {len(job['images'])} image(s)")
    if job.get("info"):
        console.print(job["info"], highlight=False, markup=False)
    if out is not None:
        for path in client.download_images(job, out):
            console.print(f"wrote {path}")
    return job


def print_warnings(job: dict[str, Any]) -> None:
    """The payload fields the job accepted but does not use."""
    for warning in job.get("warnings") or []:
        console.print(f"[yellow]warning: {escape(warning['field'])}: {escape(warning['message'])}[/yellow]")


def pick_endpoint(client: SdCloudClient, name: str | None) -> str:
    if name:
        return name
    ready = [e["name"] for e in client.list_endpoints("InService")]
    if len(ready) != 1:
        raise ApiError(400, "pass --endpoint: " + ("no endpoint is InService" if not ready
                                                   else f"several are InService: {', '.join(ready)}"), "endpoint")
    return ready[0]


def submit(ctx: typer.Context, task: str, endpoint: str | None, payload: dict[str, Any], wait: bool,
           out: Path | None, timeout: float, webhook_url: str | None = None) -> None:
    client = client_of(ctx)
    job = client.create_inference(pick_endpoint(client, endpoint), task, payload, webhook_url=webhook_url)
    console.print(f"job [bold]{job['id']}[/bold] is {job['status']} on {job['endpoint_name']}")
    print_warnings(job)
    if wait or out is not None:
        finish(client, job["id"], out, timeout)


def txt2img(ctx: typer.Context, endpoint: EndpointOption = None, prompt: PromptOption = None,
            negative_prompt: NegativeOption = None, sampler: SamplerOption = None, scheduler: SchedulerOption = None,
            steps: StepsOption = None, cfg_scale: CfgOption = None, width: SizeOption = None,
            height: SizeOption = None, seed: SeedOption = None, batch_size: CountOption = None,
            n_iter: CountOption = None, checkpoint: CheckpointOption = None, vae: VaeOption = None,
            clip_skip: ClipSkipOption = None, controlnet: ControlNetOption = None, payload: PayloadOption = None,
            wait: WaitOption = False, out: OutOption = None, timeout: TimeoutOption = 900.0,
            webhook_url: WebhookOption = None) -> None:
    """Text to image with WebUI parameters (or --payload), LoRA tags, VAE and ControlNet units."""
    body = build_payload(load_payload(payload), _options(locals()), _overrides(locals()), controlnet or [])
    submit(ctx, "txt2img", endpoint, body, wait, out, timeout, webhook_url)


def img2img(ctx: typer.Context,
            init_image: Annotated[list[Path] | None, typer.Option("--init-image", "-i", help="repeatable")] = None,
            denoising_strength: Annotated[float | None, typer.Option()] = None,
            mask: Annotated[Path | None, typer.Option(help="inpainting mask: white is repainted")] = None,
            endpoint: EndpointOption = None, prompt: PromptOption = None,
            negative_prompt: NegativeOption = None, sampler: SamplerOption = None, scheduler: SchedulerOption = None,
            steps: StepsOption = None, cfg_scale: CfgOption = None, width: SizeOption = None,
            height: SizeOption = None, seed: SeedOption = None, batch_size: CountOption = None,
            n_iter: CountOption = None, checkpoint: CheckpointOption = None, vae: VaeOption = None,
            clip_skip: ClipSkipOption = None, controlnet: ControlNetOption = None, payload: PayloadOption = None,
            wait: WaitOption = False, out: OutOption = None, timeout: TimeoutOption = 900.0,
            webhook_url: WebhookOption = None) -> None:
    """Image to image (inpainting with --mask), same options as txt2img plus the init image."""
    options = {**_options(locals()), "denoising_strength": denoising_strength}
    body = build_payload(load_payload(payload), options, _overrides(locals()), controlnet or [], init_image, mask)
    submit(ctx, "img2img", endpoint, body, wait, out, timeout, webhook_url)


def _options(values: dict[str, Any]) -> dict[str, Any]:
    """The WebUI fields among a command's parameters, by their API names."""
    options = {name: values[name] for name in ("prompt", "negative_prompt", "scheduler", "steps", "cfg_scale",
                                               "width", "height", "seed", "batch_size", "n_iter")}
    options["sampler_name"] = values["sampler"]
    return options


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    return {"sd_model_checkpoint": values["checkpoint"], "sd_vae": values["vae"],
            "CLIP_stop_at_last_layers": values["clip_skip"]}
