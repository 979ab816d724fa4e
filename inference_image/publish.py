"""Publish, a job's last step: the images with their infotexts (and the detected maps) written to S3, and the
manifest that describes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from api_schema.jobs import InferenceManifest, Timings
from api_schema.payload import GenerationPayload
from api_schema.prompt_tags import model_name_of
from inference_image.controlnet import detected_maps
from inference_image.fetch import JobFiles
from inference_image.generation import Generated
from inference_image.images import upload_pngs
from inference_image.infotext import format_infotext, number
from inference_image.model_store import ModelStore
from inference_image.pipelines import LoadedJob
from inference_image.plan import JobPlan
from inference_image.schedulers import resolved_schedule, webui_sampler_name


def publish(
    s3: Any,
    store: ModelStore,
    plan: JobPlan,
    files: JobFiles,
    loaded: LoadedJob,
    generated: Generated,
    started: float,
    load_s: float,
) -> InferenceManifest:
    """`started`: the job's start (`time.perf_counter`); `load_s`: the seconds until its models were loaded."""
    job, payload = plan.job, plan.payload
    params = infotext_params(plan, files, loaded, generated, store)
    infotexts = [format_infotext(payload.prompt, payload.negative_prompt, params(seed)) for seed in generated.seeds]
    maps = detected_maps(generated.units, plan.hires.size if plan.hires else None)
    upload_start = time.perf_counter()
    pngs = [*zip(generated.images, infotexts, strict=True), *((m, None) for m in maps)]
    keys = upload_pngs(s3, job.output_bucket, job.output_prefix, pngs)
    upload_s = time.perf_counter() - upload_start
    return InferenceManifest(
        job_id=job.job_id,
        images=keys,
        image_kinds=["image"] * len(generated.images) + ["detected_map"] * len(maps),
        info=infotexts[0],
        infotexts=infotexts,
        parameters=public_parameters(payload),
        seeds=generated.seeds,
        timings=Timings(
            load_s=load_s,
            inference_s=generated.inference_s,
            upload_s=upload_s,
            total_s=time.perf_counter() - started,
        ),
    )


def infotext_params(
    plan: JobPlan, files: JobFiles, loaded: LoadedJob, generated: Generated, store: ModelStore
) -> Callable[[int], dict[str, Any]]:
    """The infotext's parameters of each image, by seed, in the WebUI's order."""
    payload, models, hires, refiner = plan.payload, plan.models, loaded.hires, loaded.refiner
    extra = {**plan.inputs.extra_params, **(hires.infotext_entries(payload) if hires else {})}
    clip_skip = generated.clip_skip
    fixed_head = {
        "Steps": payload.steps,
        "Sampler": webui_sampler_name(payload.sampler_name),
        "Schedule type": resolved_schedule(payload.sampler_name, payload.scheduler),
        "CFG scale": number(payload.cfg_scale),
    }
    controlnet = {f"ControlNet {u.index}": u.infotext() for u in generated.units}
    fixed_tail: dict[str, Any] = {
        "Size": f"{payload.width}x{payload.height}",
        "Model hash": store.sha256(files.checkpoint)[:10],
        "Model": model_name_of(models.checkpoint.name),
        "VAE hash": store.sha256(files.vae)[:10] if files.vae else None,
        "VAE": models.vae.filename if models.vae else None,  # the WebUI writes the VAE file name
        "Denoising strength": extra.get("Denoising strength"),
        "Clip skip": clip_skip if clip_skip > 1 else None,
        # the WebUI's order: the img2img entries, ControlNet's (written as the scripts start), the hires fix's
        **{k: v for k, v in extra.items() if k != "Denoising strength" and not k.startswith("Hires")},
        **controlnet,
        **{k: v for k, v in extra.items() if k.startswith("Hires")},
        "Lora hashes": ", ".join(f"{n}: {store.sha256(p, skip_header=True)[:12]}" for n, p in files.loras.items())
        or None,
        "TI hashes": ", ".join(f"{n}: {store.sha256(p)[:12]}" for n, p in files.embeddings.items()) or None,
        **(refiner.infotext_entries() if refiner else {}),  # the refiner's, written when it takes over
    }

    def params(seed: int) -> dict[str, Any]:
        return {**fixed_head, "Seed": seed, **fixed_tail}

    return params


def public_parameters(payload: GenerationPayload) -> dict[str, Any]:
    """The request parameters as the WebUI API echoes them, without the (large) input images."""
    data = payload.model_dump(mode="json", exclude={"init_images", "mask"})
    controlnet = data.get("alwayson_scripts", {}).get("controlnet") or {}
    for unit in controlnet.get("args", []):
        unit.pop("image", None)
    return data
