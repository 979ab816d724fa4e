"""The hires fix's second pass on loaded pipelines: upscale each first-pass result, then img2img at the target
size (`hires.HiresPlan` says how), with the ControlNet units whose `hr_option` includes the high-res pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from api_schema.payload import GenerationPayload, Txt2ImgPayload
from inference_image.controlnet import PreparedUnit
from inference_image.generation import control_kwargs, encode, generators, task_pipeline
from inference_image.hires import HiresPlan, crop_image, crop_latents, infotext_entries, upscale_latents
from inference_image.refiner import Refiner, attach
from inference_image.runners import Runner, StepCallback, run_pipeline
from inference_image.upscalers import upscale_image


@dataclass
class HiresPass:
    plan: HiresPlan
    base: Any  # the second pass's pipeline: the hires checkpoint's, else the job's
    scheduler: Any  # for the hires sampler and schedule type
    upscaler_model: Any = None  # a loaded upscaler model, when plan.upscaler names one
    checkpoint_title: str | None = None  # the hires checkpoint's "name [hash]", when it has its own

    def infotext_entries(self, payload: GenerationPayload) -> dict[str, Any]:
        assert isinstance(payload, Txt2ImgPayload)
        return {"Denoising strength": self.plan.denoising_strength,
                **infotext_entries(self.plan, payload, self.checkpoint_title)}

    def prepare(
        self,
        payload: GenerationPayload,
        units: list[PreparedUnit],
        nets: list[Any],
        clip_skip: int,
        runner: Runner,
        refiner: Refiner | None,
        on_step: StepCallback | None = None,
    ) -> SecondPass:
        chosen = [(u, net) for u, net in zip(units, nets, strict=True) if u.applies(True)]
        cfg = payload.cfg_scale > 1
        pipe = task_pipeline(
            self.base, "img2img", [u for u, _ in chosen], [n for _, n in chosen], cfg, scheduler=self.scheduler
        )
        plan = self.plan
        embeds = encode(self.base, plan.prompt, plan.negative_prompt, clip_skip, runner)
        if refiner is not None:
            attach(pipe, refiner, encode(refiner.base, plan.prompt, plan.negative_prompt, clip_skip, runner), cfg)
            runner = run_pipeline  # graphs replayed by a faster runner would not see the switch
        width, height = plan.size
        steps, strength = plan.schedule
        fixed: dict[str, Any] = {
            **embeds,
            "num_inference_steps": steps,
            "strength": strength,
            "guidance_scale": payload.cfg_scale,
            "output_type": "pil",
        }
        if on_step is not None:
            fixed["callback_on_step_end"] = on_step
        if chosen:
            fixed.update(control_kwargs([u for u, _ in chosen], [u.control_at(width, height) for u, _ in chosen],
                                        "control_image"))
        return SecondPass(self, pipe, fixed, runner)


@dataclass
class SecondPass:
    hires: HiresPass
    pipe: Any
    fixed: dict[str, Any]  # the call arguments every batch shares
    runner: Runner

    def upscaled(self, first: list[Any]) -> Any:
        """The second pass's init: upscaled latents (the Latent family) or upscaled images, cut to size."""
        plan = self.hires.plan
        if plan.upscaler.kind == "latent":
            latents = upscale_latents(torch.stack(first), plan)
            return crop_latents(latents, plan.truncate)
        x, y = plan.upscale_to
        return [crop_image(upscale_image(im, x, y, plan.upscaler, self.hires.upscaler_model), plan) for im in first]

    def run(self, first: list[Any], seeds: list[int]) -> list[Image.Image]:
        kwargs = {
            **self.fixed,
            "image": self.upscaled(first),
            "num_images_per_prompt": len(seeds),
            "generator": generators(seeds),
        }
        out = self.runner(self.pipe, kwargs)
        if len(out) != len(seeds):
            raise RuntimeError(f"the runner returned {len(out)} images for a batch of {len(seeds)}")
        return out
