"""Denoising runners: what one can do (`Runner`), the plain one, and which one the container uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from inference_image.settings import InferenceSettings

if TYPE_CHECKING:
    from PIL import Image


# diffusers' `callback_on_step_end(pipe, step_index, timestep, callback_kwargs) -> callback_kwargs`: every runner
# calls the pipeline itself, so the callback runs on the plain and the fast path alike
StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


class Runner(Protocol):
    """Runs a task pipeline's denoising: called with the pipeline (a diffusers pipeline sharing the pooled
    modules) and the keyword arguments of its `__call__`, it returns the PIL images of one batch."""

    def __call__(self, pipe: Any, kwargs: dict[str, Any]) -> list[Image.Image]: ...

    def sync_artifacts(self, s3_client: Any) -> None:
        """Start sharing what the runner builds with the other instances; called once, after setup."""
        ...

    def fuses_lora(self, pipe: Any) -> bool:
        """Whether a job's LoRAs must be fused into `pipe`'s UNet (a runner that replays the UNet's weights)."""
        ...

    def takes_lora(self, pipe: Any) -> bool:
        """Whether `pipe`'s UNet can take a job's LoRAs (a UNet in float8 takes none)."""
        ...

    def fast_modules(self, pipe: Any) -> AbstractContextManager[None]:
        """Within the block `pipe`'s modules run the runner's way, also outside a call (prompt encoding)."""
        ...

    def close(self) -> None:
        """At the server's shutdown: end the work the runner does beside the jobs (artifact builds)."""
        ...


class PlainRunner:
    """The diffusers pipeline's own denoising loop."""

    def __call__(self, pipe: Any, kwargs: dict[str, Any]) -> list[Image.Image]:
        return list(pipe(**kwargs).images)

    def sync_artifacts(self, s3_client: Any) -> None:
        """Builds nothing, shares nothing."""

    def fuses_lora(self, pipe: Any) -> bool:
        return False

    def takes_lora(self, pipe: Any) -> bool:
        return True

    def fast_modules(self, pipe: Any) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def close(self) -> None:
        """Nothing runs beside the jobs."""


run_pipeline = PlainRunner()


def runner_for(settings: InferenceSettings) -> Runner:
    """The denoising runner the settings ask for; the fast one falls back to plain by itself off CUDA."""
    if settings.fast_path == "off":
        return run_pipeline
    from inference_image.fast import FastOptions, FastRunner
    from inference_image.fast.aot import BuildOptions

    if settings.fast_path == "graphs":
        return FastRunner(FastOptions(compile="off"))
    options = FastOptions(
        compile="background",
        artifact_dir=settings.artifact_dir,
        mirror_uri=settings.compiled_s3_uri,
        build=BuildOptions(precision=settings.fast_precision),
    )
    return FastRunner(options)
