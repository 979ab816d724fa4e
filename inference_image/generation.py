"""Generate, a job's fourth step: its images from the loaded pipelines. The task pipeline (txt2img, img2img or
inpaint, with or without ControlNet) shares the pooled modules; its denoising goes through a `Runner`.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from diffusers import (
    StableDiffusionControlNetImg2ImgPipeline,
    StableDiffusionControlNetInpaintPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLControlNetImg2ImgPipeline,
    StableDiffusionXLControlNetInpaintPipeline,
    StableDiffusionXLControlNetPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from PIL import Image

from api_schema.payload import GenerationPayload, Img2ImgPayload
from inference_image.checkpoints import Arch, pipeline_arch
from inference_image.controlnet import PreparedUnit, UnitControlNets, prepare_unit
from inference_image.errors import InvalidJob
from inference_image.extra_networks import extra_networks
from inference_image.inputs import Inputs, compose, crop_to
from inference_image.prompts import encode_prompts
from inference_image.refiner import Refiner, attach
from inference_image.runners import Runner, StepCallback, run_pipeline
from inference_image.schedulers import scheduler_for

if TYPE_CHECKING:
    from inference_image.fetch import JobFiles
    from inference_image.hires_pass import HiresPass
    from inference_image.pipelines import LoadedJob
    from inference_image.plan import JobPlan
    from inference_image.preprocessors import Preprocessors

Task = Literal["txt2img", "img2img", "inpaint"]

# (architecture, with ControlNet) -> the diffusers pipeline class of each task
TASK_PIPELINES: dict[tuple[Arch, bool], dict[Task, type[Any]]] = {
    ("sd15", False): {
        "txt2img": StableDiffusionPipeline,
        "img2img": StableDiffusionImg2ImgPipeline,
        "inpaint": StableDiffusionInpaintPipeline,
    },
    ("sd15", True): {
        "txt2img": StableDiffusionControlNetPipeline,
        "img2img": StableDiffusionControlNetImg2ImgPipeline,
        "inpaint": StableDiffusionControlNetInpaintPipeline,
    },
    ("sdxl", False): {
        "txt2img": StableDiffusionXLPipeline,
        "img2img": StableDiffusionXLImg2ImgPipeline,
        "inpaint": StableDiffusionXLInpaintPipeline,
    },
    ("sdxl", True): {
        "txt2img": StableDiffusionXLControlNetPipeline,
        "img2img": StableDiffusionXLControlNetImg2ImgPipeline,
        "inpaint": StableDiffusionXLControlNetInpaintPipeline,
    },
}


def task_of(base: Any, inputs: Inputs) -> Task:
    if base.unet.config.in_channels != 4 and inputs.mask is None:
        raise InvalidJob("this checkpoint is an inpainting model: use img2img with a mask", "override_settings")
    if inputs.mask is not None:
        return "inpaint"
    return "img2img" if inputs.init is not None else "txt2img"


def task_pipeline(
    base: Any, task: Task, units: list[PreparedUnit], nets: list[Any], cfg_batch: bool, **components: Any
) -> Any:
    """The task's diffusers pipeline on `base`'s modules, with the units' ControlNets when there are units."""
    cls = TASK_PIPELINES[pipeline_arch(base), bool(units)][task]
    if units:
        components["controlnet"] = UnitControlNets(nets, [u.unit.control_mode for u in units], cfg_batch)
    # dtype: without it from_pipe moves every shared module to float32, in place (diffusers 0.42)
    pipe = cls.from_pipe(base, dtype=base.dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def seeds_of(payload: GenerationPayload) -> list[int]:
    """seed, seed+1, ... for batch_size x n_iter images; -1 draws a random seed, as the WebUI does."""
    seed = payload.seed if payload.seed != -1 else random.randrange(2**32)
    return [(seed + i) % 2**32 for i in range(payload.batch_size * payload.n_iter)]


def call_kwargs(
    pipe: Any,
    payload: GenerationPayload,
    inputs: Inputs,
    units: list[PreparedUnit],
    embeds: dict[str, torch.Tensor],
    seeds: list[int],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        **embeds,
        "num_inference_steps": payload.steps,
        "guidance_scale": payload.cfg_scale,
        "num_images_per_prompt": len(seeds),
        "generator": generators(seeds),
        "output_type": "pil",
    }
    if inputs.init is None:
        kwargs.update(width=payload.width, height=payload.height)
    else:
        kwargs.update(image=inputs.init, strength=payload.denoising_strength)
    if inputs.mask is not None:
        assert isinstance(payload, Img2ImgPayload)
        kwargs.update(mask_image=inputs.mask, width=payload.width, height=payload.height)
    if units:
        images = [u.control_image for u in units]
        if inputs.crop_box is not None:  # the control maps follow the "only masked" crop
            images = [crop_to(im, inputs.crop_box, payload.width, payload.height) for im in images]
        kwargs.update(control_kwargs(units, images, "control_image" if inputs.init is not None else "image"))
    return kwargs


def control_kwargs(units: list[PreparedUnit], images: list[Image.Image], image_key: str) -> dict[str, Any]:
    return {
        image_key: images,
        "controlnet_conditioning_scale": [u.unit.weight for u in units],
        "control_guidance_start": [u.unit.guidance_start for u in units],
        "control_guidance_end": [u.unit.guidance_end for u in units],
    }


def generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def encode(base: Any, prompt: str, negative: str, clip_skip: int, runner: Runner) -> dict[str, torch.Tensor]:
    with runner.fast_modules(base):  # the fast runner replays the text encoders too
        return encode_prompts(base, prompt, negative, clip_skip)


def generate(
    base: Any,
    payload: GenerationPayload,
    inputs: Inputs,
    units: list[PreparedUnit],
    nets: list[Any],
    clip_skip: int,
    seeds: list[int],
    runner: Runner,
    hires: HiresPass | None = None,
    refiner: Refiner | None = None,
    on_step: StepCallback | None = None,
) -> list[Image.Image]:
    """All images of the job, n_iter batches of batch_size, in seed order. With the hires fix the refiner
    takes part in its second pass only (the WebUI's default `hires_fix_refiner_pass`). `on_step` is called
    after each denoising step of every pass."""
    cfg = payload.cfg_scale > 1
    first = [(u, net) for u, net in zip(units, nets, strict=True) if u.applies(False if hires else None)]
    pipe = task_pipeline(base, task_of(base, inputs), [u for u, _ in first], [n for _, n in first], cfg)
    embeds = encode(base, payload.prompt, payload.negative_prompt, clip_skip, runner)
    first_runner = runner
    if refiner is not None and hires is None:
        attach(pipe, refiner, encode(refiner.base, payload.prompt, payload.negative_prompt, clip_skip, runner), cfg)
        first_runner = run_pipeline  # graphs replayed by a faster runner would not see the switch
    second = hires.prepare(payload, units, nets, clip_skip, runner, refiner, on_step) if hires else None
    images: list[Image.Image] = []
    for start in range(0, len(seeds), payload.batch_size):
        batch = seeds[start : start + payload.batch_size]
        kwargs = call_kwargs(pipe, payload, inputs, [u for u, _ in first], embeds, batch)
        if on_step is not None:
            kwargs["callback_on_step_end"] = on_step
        if hires is not None:
            kwargs["output_type"] = "latent" if hires.plan.upscaler.kind == "latent" else "pil"
        out = first_runner(pipe, kwargs)
        if len(out) != len(batch):
            raise RuntimeError(f"the runner returned {len(out)} images for a batch of {len(batch)}")
        images.extend(second.run(out, batch) if second else out)
    if inputs.blurred_mask is not None:
        images = [compose(img, inputs) for img in images]
    return images


@dataclass(frozen=True)
class Generated:
    images: list[Image.Image]
    units: list[PreparedUnit]  # the ControlNet units with their control images (infotext, detected maps)
    seeds: list[int]
    clip_skip: int
    inference_s: float


def generate_job(
    plan: JobPlan,
    loaded: LoadedJob,
    files: JobFiles,
    preprocessors: Preprocessors,
    runner: Runner,
    allow_pickle: bool,
    on_step: StepCallback | None = None,
) -> Generated:
    """The job's images: control images preprocessed, the sampler set, the LoRAs and embeddings applied to
    every checkpoint of the job for the time of the denoising."""
    payload = plan.payload
    units = [
        prepare_unit(i, unit, payload.width, payload.height, preprocessors, files.annotators, plan.init_image)
        for i, unit in enumerate(payload.controlnet_units)
    ]
    seeds = seeds_of(payload)
    clip_skip = payload.override_settings.CLIP_stop_at_last_layers
    main, hires, refiner = loaded.main, loaded.hires, loaded.refiner
    main.pipe.scheduler = scheduler_for(payload.sampler_name, payload.scheduler, main.scheduler_config)
    pipes = {id(p): p for p in (main.pipe, hires and hires.base, refiner and refiner.base) if p is not None}
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        for pipe in pipes.values():
            stack.enter_context(
                extra_networks(pipe, files.loras, plan.lora_weights, files.embeddings, runner, allow_pickle)
            )
        images = generate(
            main.pipe, payload, plan.inputs, units, loaded.controlnets, clip_skip, seeds, runner, hires, refiner,
            on_step,
        )
    return Generated(images, units, seeds, clip_skip, time.perf_counter() - started)
