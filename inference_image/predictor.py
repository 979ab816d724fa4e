"""The cog-shaped predictor: `setup()` once, `predict(job)` per request, a health state in between."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from api_schema.jobs import InferenceInput, InferenceManifest, ModelRef, Timings
from api_schema.payload import GenerationPayload, Img2ImgPayload, parse_payload
from api_schema.preprocessors import ANNOTATOR_NAMES
from api_schema.prompt_tags import lora_tags, model_name_of
from api_schema.validation_errors import validation_field, validation_message
from inference_image.errors import Busy, InvalidJob, ModelLoadError
from inference_image.images import decode_image, upload_pngs
from inference_image.infotext import format_infotext, number
from inference_image.settings import InferenceSettings

if TYPE_CHECKING:
    from inference_image.generation import Runner
    from inference_image.hires import HiresPlan
    from inference_image.hires_pass import HiresPass
    from inference_image.refiner import Refiner

Health = Literal["starting", "ready", "busy", "failed"]


def import_libraries() -> None:
    """What a job needs imported, paid once: torch, diffusers (with transformers and peft) and its
    pipelines, which diffusers would otherwise import at first use. Seconds, most of a cold start."""
    import diffusers

    import inference_image.generation  # noqa: F401

    for lazy in ("StableDiffusionPipeline", "StableDiffusionXLPipeline", "StableDiffusionControlNetPipeline"):
        getattr(diffusers, lazy)


class Predictor:
    """`runner` runs the denoising (`generation.Runner`); None: the one the settings choose
    (`runners.runner_for`), picked when the libraries are in."""

    def __init__(self, settings: InferenceSettings, s3: Any = None, runner: Runner | None = None) -> None:
        self.settings = settings
        self.runner = runner
        self._s3 = s3
        self.state: Health = "starting"
        self.error: str | None = None
        self._lock = threading.Lock()
        self._libraries = threading.Event()  # set when _load_libraries has ended, whatever the outcome

    # --- lifecycle -----------------------------------------------------------------------------
    def setup(self) -> None:
        """In two steps. First what taking a job needs (the S3 client and the model store): the health check
        turns ready then, so a new instance takes its first job while the second step runs: the libraries
        (torch, diffusers: seconds of imports), the device, config folders, model pool, preprocessors and the
        runner. A job that comes meanwhile downloads its models, then waits for the libraries."""
        try:
            self._open()
            self.state = "ready"
            self._load_libraries()
        except Exception as exc:
            self.state, self.error = "failed", f"setup failed: {exc}"
            raise
        finally:
            self._libraries.set()

    @property
    def libraries(self) -> Literal["loading", "loaded", "failed"]:
        if not self._libraries.is_set():
            return "loading"
        return "failed" if self.state == "failed" else "loaded"

    def _open(self) -> None:
        from inference_image.model_store import ModelStore

        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.settings.s3_endpoint_url)
        self.store = ModelStore(
            self._s3,
            self.settings.cache_dir,
            self.settings.disk_budget_bytes,
            self.settings.transfer_concurrency,
            self.settings.part_size_bytes,
        )

    def _load_libraries(self) -> None:
        import_libraries()
        import torch

        from inference_image.checkpoints import ConfigFolders
        from inference_image.pool import ModelPool
        from inference_image.preprocessors import Preprocessors
        from inference_image.runners import runner_for

        self.device = self.settings.resolved_device()
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.configs = ConfigFolders(self.settings.cache_dir / "configs")
        for arch in ("sd15", "sdxl"):
            self.configs.folder(arch, {})
        self.pool = ModelPool(self.settings.memory_budget_bytes)
        self.preprocessors = Preprocessors(self.device)
        if self.runner is None:
            self.runner = runner_for(self.settings)
        sync_artifacts = getattr(self.runner, "sync_artifacts", None)
        if sync_artifacts is not None:
            sync_artifacts(self._s3)  # in the background: jobs never wait on it

    def _wait_for_libraries(self) -> None:
        self._libraries.wait()
        if self.state == "failed":
            raise Busy(f"the server is not ready ({self.error})")

    # --- one job -------------------------------------------------------------------------------
    def predict(self, job: InferenceInput) -> InferenceManifest:
        if self.state in ("starting", "failed"):
            raise Busy(f"the server is not ready ({self.state})")
        with self._lock:
            self.state = "busy"
            try:
                return self._predict(job)
            except Exception as exc:
                torch = sys.modules.get("torch")
                if torch is None or not isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise
                torch.cuda.empty_cache()
                raise InvalidJob(
                    "the job needs more GPU memory than this instance has: lower batch_size, width or height, "
                    "or use fewer ControlNet units",
                    "payload.batch_size",
                ) from exc
            finally:
                if self.state == "busy":
                    self.state = "ready"

    def _predict(self, job: InferenceInput) -> InferenceManifest:
        started = time.perf_counter()
        try:
            payload = parse_payload(job.task, job.payload)
        except ValidationError as exc:
            field = validation_field(exc)
            raise InvalidJob(validation_message(exc), f"payload.{field}" if field else "payload") from exc
        units = payload.controlnet_units
        loras = self._lora_weights(payload, job)
        cn_refs = [self._controlnet_ref(i, unit.model, job) for i, unit in enumerate(units)]
        files: set[Path] = set()
        models = job.models
        if not self._libraries.is_set():  # a new instance: download while the libraries load
            second = (models.hr_checkpoint, models.refiner, models.upscaler)
            for ref in (models.checkpoint, models.vae, *second, *cn_refs, *(models.loras[n] for n in loras)):
                if ref is not None:
                    self._fetch(ref, files)
        self._wait_for_libraries()
        from inference_image.controlnet import detected_maps, prepare_unit, unit_module
        from inference_image.generation import IMG2IMG_RESIZE, generate, prepare_inputs, seeds_of
        from inference_image.hires import plan_hires

        for i, unit in enumerate(units):
            unit_module(i, unit)
        inputs = prepare_inputs(payload)  # decodes the input images: a bad one fails before any download
        plan = plan_hires(payload)
        init_image = None
        if isinstance(payload, Img2ImgPayload):  # units without an image of their own take it
            init_image = (decode_image(payload.init_images[0], "init_images[0]"), IMG2IMG_RESIZE[payload.resize_mode])

        ckpt_path = self._fetch(job.models.checkpoint, files)
        vae_path = self._fetch(job.models.vae, files) if job.models.vae else None
        lora_paths = {name: self._fetch(job.models.loras[name], files) for name in loras}
        embedding_refs = {n: r for n, r in job.models.embeddings.items() if _mentions(payload, n)}
        embedding_paths = {name: self._fetch(ref, files) for name, ref in embedding_refs.items()}
        cn_paths = [self._fetch(ref, files) for ref in cn_refs]
        annotators = self._annotator_files(job, files)

        pipe = self._pipeline(job.models.checkpoint, job.models.vae, ckpt_path, vae_path)
        nets = [self._controlnet(ref, path, pipe.sdcloud_arch) for ref, path in zip(cn_refs, cn_paths, strict=True)]
        hires, refiner = self._second_models(job, payload, plan, files, pipe)
        load_s = time.perf_counter() - started

        from inference_image.schedulers import scheduler_for

        prepared = [
            prepare_unit(i, unit, payload.width, payload.height, self.preprocessors, annotators, init_image)
            for i, unit in enumerate(units)
        ]
        seeds = seeds_of(payload)
        clip_skip = payload.override_settings.CLIP_stop_at_last_layers
        pipe.scheduler = scheduler_for(payload.sampler_name, payload.scheduler, pipe.sdcloud_scheduler_config)
        pipes = {id(p): p for p in (pipe, hires and hires.base, refiner and refiner.base) if p is not None}
        infer_start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            for each in pipes.values():  # the LoRAs and embeddings apply to every checkpoint of the job
                stack.enter_context(self._extra_networks(each, lora_paths, loras, embedding_paths))
            assert self.runner is not None  # chosen with the libraries
            images = generate(pipe, payload, inputs, prepared, nets, clip_skip, seeds, self.runner, hires, refiner)
        inference_s = time.perf_counter() - infer_start

        extra = {**inputs.extra_params, **(hires.infotext_entries(payload) if hires else {})}
        params = self._infotext_params(
            payload,
            job,
            ckpt_path,
            vae_path,
            loras,
            lora_paths,
            embedding_paths,
            prepared,
            extra,
            clip_skip,
            refiner.infotext_entries() if refiner else {},
        )
        infotexts = [format_infotext(payload.prompt, payload.negative_prompt, params(seed)) for seed in seeds]
        maps = detected_maps(prepared, plan.size if plan else None)
        upload_start = time.perf_counter()
        pngs = [*zip(images, infotexts, strict=True), *((m, None) for m in maps)]
        keys = upload_pngs(self._s3, job.output_bucket, job.output_prefix, pngs)
        upload_s = time.perf_counter() - upload_start
        return InferenceManifest(
            job_id=job.job_id,
            images=keys,
            image_kinds=["image"] * len(images) + ["detected_map"] * len(maps),
            info=infotexts[0],
            infotexts=infotexts,
            parameters=_public_parameters(payload),
            seeds=seeds,
            timings=Timings(
                load_s=load_s,
                inference_s=inference_s,
                upload_s=upload_s,
                total_s=time.perf_counter() - started,
            ),
        )

    # --- models --------------------------------------------------------------------------------
    def _second_models(
        self, job: InferenceInput, payload: GenerationPayload, plan: HiresPlan | None, files: set[Path], pipe: Any
    ) -> tuple[HiresPass | None, Refiner | None]:
        """The hires fix's pass (its checkpoint, sampler and upscaler model) and the refiner, loaded."""
        from inference_image.hires_pass import HiresPass
        from inference_image.refiner import Refiner
        from inference_image.schedulers import scheduler_for

        models = job.models
        vae_path = self._fetch(models.vae, files) if models.vae else None
        main = {("pipeline", models.checkpoint.id, models.vae.id if models.vae else None)}
        hires = refiner = None
        if plan is not None:
            base, title = pipe, None
            if models.hr_checkpoint is not None:
                path = self._fetch(models.hr_checkpoint, files)
                base = self._pipeline(models.hr_checkpoint, models.vae, path, vae_path, main)
                title = self._title(models.hr_checkpoint, path)
            upscaler = self._upscaler(models.upscaler, files) if plan.upscaler.kind == "model" else None
            scheduler = scheduler_for(plan.sampler_name, plan.scheduler, base.sdcloud_scheduler_config)
            hires = HiresPass(plan, base, scheduler, upscaler, title)
        if models.refiner is not None and payload.refiner:
            path = self._fetch(models.refiner, files)
            base = self._pipeline(models.refiner, models.vae, path, vae_path, main)
            refiner = Refiner(base, payload.refiner_switch_at, self._title(models.refiner, path))
        return hires, refiner

    def _title(self, ref: ModelRef, path: Path) -> str:
        """The WebUI's short title of a checkpoint: `name [sha256 prefix]`."""
        return f"{model_name_of(ref.name)} [{self.store.sha256(path)[:10]}]"

    def _upscaler(self, ref: ModelRef | None, files: set[Path]) -> Any:
        from inference_image.upscalers import load_upscaler

        if ref is None:
            raise InvalidJob("hr_upscaler names an upscaler model that is not among the job's resolved models",
                             "payload.hr_upscaler")
        path = self._fetch(ref, files)

        def load() -> Any:
            with _named("upscaler", ref):
                return load_upscaler(path, self.device, self.settings.allow_pickle)

        return self.pool.get(("upscaler", ref.id), load, ref.size_bytes)

    def _fetch(self, ref: ModelRef, files: set[Path]) -> Path:
        path = self.store.fetch(ref, pinned=files)
        files.add(path)
        return path

    def _lora_weights(self, payload: GenerationPayload, job: InferenceInput) -> dict[str, float]:
        """LoRA tags of the prompt, weights summed by name (the WebUI ignores tags in the negative prompt)."""
        weights: dict[str, float] = {}
        for name, weight in lora_tags(payload.prompt):
            if name not in job.models.loras:
                raise InvalidJob(f"LoRA '{name}' is not among the job's resolved models", "payload.prompt")
            weights[name] = weights.get(name, 0.0) + weight
        return weights

    def _controlnet_ref(self, index: int, title: str, job: InferenceInput) -> ModelRef:
        refs = job.models.controlnets
        ref = refs.get(title) or refs.get(model_name_of(title))
        if ref is None:
            raise InvalidJob(
                f"ControlNet model '{title}' is not among the job's resolved models",
                f"payload.alwayson_scripts.controlnet.args[{index}].model",
            )
        return ref

    def _annotator_files(self, job: InferenceInput, files: set[Path]) -> dict[str, Path]:
        found: dict[str, Path] = {}
        baked = self.settings.annotator_dir
        if baked is not None and baked.is_dir():
            for path in baked.iterdir():
                if path.stem in ANNOTATOR_NAMES:
                    found[path.stem] = path
        for name, ref in job.models.annotators.items():
            found[model_name_of(name)] = self._fetch(ref, files)
        return found

    def _pipeline(
        self,
        ckpt: ModelRef,
        vae: ModelRef | None,
        ckpt_path: Path,
        vae_path: Path | None,
        pinned: set[Any] | None = None,
    ) -> Any:
        from inference_image.checkpoints import load_checkpoint, load_vae

        def load() -> Any:
            with _named("checkpoint", ckpt):
                pipe = load_checkpoint(ckpt_path, self.configs, self.dtype, self.settings.allow_pickle)
            if vae is not None and vae_path is not None:
                with _named("VAE", vae):
                    pipe.vae = load_vae(
                        vae_path, self.configs, pipe.sdcloud_arch, self.dtype, self.settings.allow_pickle
                    )
            pipe.sdcloud_scheduler_config = dict(pipe.scheduler.config)
            pipe.set_progress_bar_config(disable=True)
            return pipe.to(self.device)

        estimate = ckpt.size_bytes + (vae.size_bytes if vae else 0)
        return self.pool.get(("pipeline", ckpt.id, vae.id if vae else None), load, estimate, pinned)

    def _controlnet(self, ref: ModelRef, path: Path, arch: str) -> Any:
        from inference_image.checkpoints import load_controlnet

        def load() -> Any:
            with _named("ControlNet model", ref):
                net = load_controlnet(path, self.configs, arch, self.dtype, self.settings.allow_pickle)  # type: ignore[arg-type]
            return net.to(self.device)

        return self.pool.get(("controlnet", ref.id), load, ref.size_bytes)

    @contextlib.contextmanager
    def _extra_networks(
        self,
        pipe: Any,
        lora_paths: dict[str, Path],
        weights: dict[str, float],
        embedding_paths: dict[str, Path],
    ) -> Iterator[None]:
        """LoRAs (PEFT adapters at their tag weights) and textual inversions, removed after the job."""
        from inference_image.checkpoints import load_state_dict

        tokenizers = [t for t in (pipe.tokenizer, getattr(pipe, "tokenizer_2", None)) if t is not None]
        before = [set(t.get_vocab()) for t in tokenizers]
        fused = False
        try:
            adapters = []
            for i, (name, path) in enumerate(lora_paths.items()):
                adapter = f"lora{i}"
                state = load_state_dict(path, self.settings.allow_pickle)
                try:
                    pipe.load_lora_weights(state, adapter_name=adapter)
                except (ValueError, KeyError, RuntimeError, TypeError) as exc:
                    raise ModelLoadError(f"LoRA '{name}' could not be loaded: {exc}") from exc
                adapters.append(adapter)
            fused = bool(adapters) and self._fuses_lora(pipe)
            if adapters:
                pipe.set_adapters(adapters, adapter_weights=[weights[n] for n in lora_paths])
            if fused:
                # the fast runner replays graphs of the UNet's own weights, so the LoRAs go into them
                pipe.fuse_lora(components=["unet"], adapter_names=adapters)
            for name, path in embedding_paths.items():
                self._load_embedding(pipe, name, path)
            yield
        finally:
            if fused:
                pipe.unfuse_lora(components=["unet"])
            if lora_paths:
                pipe.unload_lora_weights()
            for tokenizer, vocab in zip(tokenizers, before, strict=True):
                added = [t for t in tokenizer.get_vocab() if t not in vocab]
                if added:
                    encoder = pipe.text_encoder if tokenizer is pipe.tokenizer else pipe.text_encoder_2
                    pipe.unload_textual_inversion(tokens=added, tokenizer=tokenizer, text_encoder=encoder)

    def _fuses_lora(self, pipe: Any) -> bool:
        fuses = getattr(self.runner, "fuses_lora", None)
        return bool(fuses(pipe)) if fuses else False

    def _load_embedding(self, pipe: Any, name: str, path: Path) -> None:
        from inference_image.checkpoints import load_state_dict

        state = load_state_dict(path, self.settings.allow_pickle)
        try:
            if "clip_l" in state and "clip_g" in state:  # SDXL embeddings carry one tensor per encoder
                if getattr(pipe, "text_encoder_2", None) is None:
                    raise ModelLoadError(f"embedding '{name}' is for SDXL, the checkpoint is SD 1.x")
                pipe.load_textual_inversion(
                    state["clip_l"], token=name, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
                )
                pipe.load_textual_inversion(
                    state["clip_g"], token=name, text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2
                )
            else:
                pipe.load_textual_inversion(state, token=name)
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise ModelLoadError(f"embedding '{name}' could not be loaded: {exc}") from exc

    # --- infotext ------------------------------------------------------------------------------
    def _infotext_params(
        self,
        payload: GenerationPayload,
        job: InferenceInput,
        ckpt_path: Path,
        vae_path: Path | None,
        loras: dict[str, float],
        lora_paths: dict[str, Path],
        embedding_paths: dict[str, Path],
        units: list[Any],
        extra: dict[str, Any],
        clip_skip: int,
        last: dict[str, Any],
    ) -> Any:
        from inference_image.schedulers import resolved_schedule, webui_sampler_name

        vae = job.models.vae
        fixed_head = {
            "Steps": payload.steps,
            "Sampler": webui_sampler_name(payload.sampler_name),
            "Schedule type": resolved_schedule(payload.sampler_name, payload.scheduler),
            "CFG scale": number(payload.cfg_scale),
        }
        controlnet = {f"ControlNet {u.index}": u.infotext() for u in units}
        fixed_tail: dict[str, Any] = {
            "Size": f"{payload.width}x{payload.height}",
            "Model hash": self.store.sha256(ckpt_path)[:10],
            "Model": model_name_of(job.models.checkpoint.name),
            "VAE hash": self.store.sha256(vae_path)[:10] if vae_path else None,
            "VAE": vae.filename if vae else None,  # the WebUI writes the VAE file name
            "Denoising strength": extra.get("Denoising strength"),
            "Clip skip": clip_skip if clip_skip > 1 else None,
            # the WebUI's order: the img2img entries, ControlNet's (written as the scripts start), the hires fix's
            **{k: v for k, v in extra.items() if k != "Denoising strength" and not k.startswith("Hires")},
            **controlnet,
            **{k: v for k, v in extra.items() if k.startswith("Hires")},
            "Lora hashes": ", ".join(
                f"{n}: {self.store.sha256(p, skip_header=True)[:12]}" for n, p in lora_paths.items()
            )
            or None,
            "TI hashes": ", ".join(f"{n}: {self.store.sha256(p)[:12]}" for n, p in embedding_paths.items()) or None,
            **last,  # the refiner's, written when it takes over
        }

        def params(seed: int) -> dict[str, Any]:
            return {**fixed_head, "Seed": seed, **fixed_tail}

        return params


@contextlib.contextmanager
def _named(kind: str, ref: ModelRef) -> Iterator[None]:
    """Prefix a model load error with the model's registered name, which the user knows."""
    try:
        yield
    except ModelLoadError as exc:
        raise ModelLoadError(f"{kind} '{ref.name}': {exc.message}", exc.field) from exc


def _mentions(payload: GenerationPayload, name: str) -> bool:
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return bool(pattern.search(payload.prompt) or pattern.search(payload.negative_prompt))


def _public_parameters(payload: GenerationPayload) -> dict[str, Any]:
    """The request parameters as the WebUI API echoes them, without the (large) input images."""
    data = payload.model_dump(mode="json", exclude={"init_images", "mask"})
    controlnet = data.get("alwayson_scripts", {}).get("controlnet") or {}
    for unit in controlnet.get("args", []):
        unit.pop("image", None)
    return data
