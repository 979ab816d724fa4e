"""Fetch, a job's second step: its model files on local disk, from the store's cache or downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api_schema.jobs import ModelRef
from api_schema.preprocessors import ANNOTATOR_NAMES
from api_schema.prompt_tags import model_name_of
from inference_image.errors import InvalidJob
from inference_image.model_store import ModelStore
from inference_image.plan import JobPlan


class Downloads:
    """The job's model files; each stays pinned on disk (never evicted for another) until the job ends."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.pinned: set[Path] = set()

    def get(self, ref: ModelRef) -> Path:
        path = self.store.fetch(ref, pinned=self.pinned)
        self.pinned.add(path)
        return path


@dataclass(frozen=True)
class JobFiles:
    checkpoint: Path
    vae: Path | None
    loras: dict[str, Path]  # by LoRA name, those the prompt's tags name
    embeddings: dict[str, Path]
    controlnets: list[Path]  # one per ControlNet unit
    annotators: dict[str, Path]  # by annotator name: baked into the image or the job's own
    hr_checkpoint: Path | None  # the hires pass's own checkpoint
    upscaler: Path | None  # the hires pass's upscaler model
    refiner: Path | None


def fetch_files(plan: JobPlan, downloads: Downloads, annotator_dir: Path | None) -> JobFiles:
    models, get = plan.models, downloads.get
    checkpoint = get(models.checkpoint)
    vae = get(models.vae) if models.vae else None
    loras = {name: get(models.loras[name]) for name in plan.lora_weights}
    embeddings = {name: get(ref) for name, ref in plan.request.embeddings.items()}
    controlnets = [get(ref) for ref in plan.request.controlnets]
    annotators = _annotators(plan, downloads, annotator_dir)
    hr_checkpoint = upscaler = None
    if plan.hires is not None:
        hr_checkpoint = get(models.hr_checkpoint) if models.hr_checkpoint else None
        if plan.hires.upscaler.kind == "model":
            if models.upscaler is None:
                raise InvalidJob(
                    "hr_upscaler names an upscaler model that is not among the job's resolved models",
                    "payload.hr_upscaler",
                )
            upscaler = get(models.upscaler)
    refiner = get(models.refiner) if models.refiner and plan.payload.refiner else None
    return JobFiles(checkpoint, vae, loras, embeddings, controlnets, annotators, hr_checkpoint, upscaler, refiner)


def _annotators(plan: JobPlan, downloads: Downloads, baked: Path | None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if baked is not None and baked.is_dir():
        for path in baked.iterdir():
            if path.stem in ANNOTATOR_NAMES:
                found[path.stem] = path
    for name, ref in plan.models.annotators.items():
        found[model_name_of(name)] = downloads.get(ref)
    return found
