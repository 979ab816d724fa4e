"""Fast path for the inference container: CUDA-graph (and compiled) replay of a diffusers pipeline."""

from inference_image.fast.runner import FastOptions, FastRunner, RunInfo

__all__ = ["FastOptions", "FastRunner", "RunInfo"]
