"""Which denoising runner the container uses, per `InferenceSettings.fast_path`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference_image.settings import InferenceSettings

if TYPE_CHECKING:
    from inference_image.generation import Runner


def runner_for(settings: InferenceSettings) -> Runner:
    """The denoising runner the settings ask for; the fast one falls back to plain by itself off CUDA."""
    if settings.fast_path == "off":
        from inference_image.generation import run_pipeline

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
