"""Load, a job's third step: its checkpoint pipelines, ControlNets and second-pass models, each taken from the
pool or loaded from its file onto the device."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from api_schema.jobs import ModelRef
from api_schema.prompt_tags import model_name_of
from inference_image.checkpoints import Arch, ConfigFolders, load_checkpoint, load_controlnet, load_vae, pipeline_arch
from inference_image.errors import ModelLoadError
from inference_image.fetch import JobFiles
from inference_image.hires_pass import HiresPass
from inference_image.model_store import ModelStore
from inference_image.plan import JobPlan
from inference_image.pool import ModelPool
from inference_image.refiner import Refiner
from inference_image.schedulers import scheduler_for
from inference_image.upscalers import load_upscaler


@dataclass(frozen=True)
class LoadedPipeline:
    """A checkpoint's pipeline as the pool keeps it."""

    pipe: Any  # StableDiffusionPipeline or StableDiffusionXLPipeline, on the device
    arch: Arch
    scheduler_config: dict[str, Any]  # the checkpoint's own: each job's sampler is built from it

    @property
    def components(self) -> dict[str, Any]:
        """The pipeline's modules, which the pool measures."""
        return dict(self.pipe.components)


@dataclass(frozen=True)
class LoadedJob:
    main: LoadedPipeline
    controlnets: list[Any]  # one ControlNetModel per unit
    hires: HiresPass | None
    refiner: Refiner | None


class Loader:
    def __init__(
        self,
        pool: ModelPool,
        store: ModelStore,
        configs: ConfigFolders,
        device: str,
        dtype: torch.dtype,
        allow_pickle: bool,
    ) -> None:
        self.pool, self.store, self.configs = pool, store, configs
        self.device, self.dtype, self.allow_pickle = device, dtype, allow_pickle

    def load_job(self, plan: JobPlan, files: JobFiles) -> LoadedJob:
        models = plan.models
        main = self.pipeline(models.checkpoint, models.vae, files.checkpoint, files.vae)
        nets = [
            self.controlnet(ref, path, main.arch)
            for ref, path in zip(plan.request.controlnets, files.controlnets, strict=True)
        ]
        # the job's own pipeline stays while its second ones load
        keep: set[Hashable] = {_pipeline_key(models.checkpoint, models.vae)}
        hires = refiner = None
        if plan.hires is not None:
            base, title = main, None
            if models.hr_checkpoint is not None and files.hr_checkpoint is not None:
                base = self.pipeline(models.hr_checkpoint, models.vae, files.hr_checkpoint, files.vae, keep)
                title = self.title(models.hr_checkpoint, files.hr_checkpoint)
            upscaler = None
            if models.upscaler is not None and files.upscaler is not None:
                upscaler = self.upscaler(models.upscaler, files.upscaler)
            scheduler = scheduler_for(plan.hires.sampler_name, plan.hires.scheduler, base.scheduler_config)
            hires = HiresPass(plan.hires, base.pipe, scheduler, upscaler, title)
        if models.refiner is not None and files.refiner is not None:
            base = self.pipeline(models.refiner, models.vae, files.refiner, files.vae, keep)
            refiner = Refiner(base.pipe, plan.payload.refiner_switch_at, self.title(models.refiner, files.refiner))
        return LoadedJob(main, nets, hires, refiner)

    def title(self, ref: ModelRef, path: Path) -> str:
        """The WebUI's short title of a checkpoint: `name [sha256 prefix]`."""
        return f"{model_name_of(ref.name)} [{self.store.sha256(path)[:10]}]"

    def pipeline(
        self,
        ckpt: ModelRef,
        vae: ModelRef | None,
        ckpt_path: Path,
        vae_path: Path | None,
        pinned: set[Hashable] | None = None,
    ) -> LoadedPipeline:
        def load() -> LoadedPipeline:
            with _named("checkpoint", ckpt):
                pipe = load_checkpoint(ckpt_path, self.configs, self.dtype, self.allow_pickle)
            arch = pipeline_arch(pipe)
            if vae is not None and vae_path is not None:
                with _named("VAE", vae):
                    pipe.vae = load_vae(vae_path, self.configs, arch, self.dtype, self.allow_pickle)
            scheduler_config = dict(pipe.scheduler.config)
            pipe.set_progress_bar_config(disable=True)
            return LoadedPipeline(pipe.to(self.device), arch, scheduler_config)

        estimate = ckpt.size_bytes + (vae.size_bytes if vae else 0)
        loaded: LoadedPipeline = self.pool.get(_pipeline_key(ckpt, vae), load, estimate, pinned)
        return loaded

    def controlnet(self, ref: ModelRef, path: Path, arch: Arch) -> Any:
        def load() -> Any:
            with _named("ControlNet model", ref):
                net = load_controlnet(path, self.configs, arch, self.dtype, self.allow_pickle)
            return net.to(self.device)

        return self.pool.get(("controlnet", ref.id), load, ref.size_bytes)

    def upscaler(self, ref: ModelRef, path: Path) -> Any:
        def load() -> Any:
            with _named("upscaler", ref):
                return load_upscaler(path, self.device, self.allow_pickle)

        return self.pool.get(("upscaler", ref.id), load, ref.size_bytes)


def _pipeline_key(ckpt: ModelRef, vae: ModelRef | None) -> Hashable:
    return ("pipeline", ckpt.id, vae.id if vae else None)


@contextlib.contextmanager
def _named(kind: str, ref: ModelRef) -> Iterator[None]:
    """Prefix a model load error with the model's registered name, which the user knows."""
    try:
        yield
    except ModelLoadError as exc:
        raise ModelLoadError(f"{kind} '{ref.name}': {exc.message}", exc.field) from exc
