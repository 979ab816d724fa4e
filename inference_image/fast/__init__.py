"""Fast path for the inference container: CUDA-graph (and compiled) replay of a diffusers pipeline."""

from inference_image.fast.options import FastOptions, RunInfo
from inference_image.fast.runner import FastRunner

__all__ = ["FastOptions", "FastRunner", "RunInfo"]
