"""The UNet's speed levers (fast/levers.py) on tiny random-weight pipelines (CPU): fused QKV projections that
stay LoRA-aware, float8 linear layers (torch._scaled_mm runs on the CPU too), and the artifact keys of the levers."""

from typing import Any

import numpy as np
import pytest
import torch

from inference_image.fast import FastOptions, FastRunner, fp8, levers
from inference_image.fast.aot import BuildOptions, Recipe, artifact_name
from sdcloud_tools.benchmarks.models import build_pipeline


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def call_kwargs(seed: int = 1) -> dict[str, Any]:
    return {
        "prompt": "a red cat",
        "negative_prompt": "blurry",
        "height": 32,
        "width": 32,
        "num_inference_steps": 3,
        "guidance_scale": 7.0,
        "output_type": "np",
        "generator": torch.Generator().manual_seed(seed),
    }


def fused_runner(**kw: Any) -> FastRunner:
    return FastRunner(FastOptions(backend="emulate", compile="off", build=BuildOptions(fuse_qkv=True), **kw))


def plain_unfused(pipe: Any) -> np.ndarray:
    levers.unfuse_qkv(pipe.unet)
    return pipe(**call_kwargs()).images


def add_lora(unet: Any) -> None:
    from peft import LoraConfig

    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)


def merge(unet: Any) -> None:
    for module in unet.modules():
        if hasattr(module, "merge") and hasattr(module, "active_adapters"):
            module.merge()


def test_fused_projections_match_the_plain_pipeline_and_share_the_weights():
    pipe = build_pipeline("tiny", controlnets=0, seed=3)
    plain = pipe(**call_kwargs()).images
    runner = fused_runner()
    fast = runner.run(pipe, **call_kwargs()).images
    assert runner.last is not None and runner.last.path == "fast"
    np.testing.assert_allclose(fast, plain, atol=1e-4)
    attention = next(m for n, m in pipe.unet.named_modules() if n.endswith("attn1"))
    assert attention.to_q.weight.data_ptr() == attention.to_qkv.weight.data_ptr()  # a view, no copy
    assert levers._views_intact(attention)


def test_a_lora_fused_in_place_reaches_the_fused_projections():
    pipe = build_pipeline("tiny", controlnets=0, seed=4)
    runner = fused_runner()
    before = runner.run(pipe, **call_kwargs()).images
    add_lora(pipe.unet)
    runner.run(pipe, **call_kwargs())
    assert runner.last is not None and runner.last.path == "plain"  # unfused adapters: the plain pipeline
    merge(pipe.unet)  # peft adds the delta in place: the fused matrix sees it through the views
    fast = runner.run(pipe, **call_kwargs()).images
    assert runner.last.path == "fast"
    np.testing.assert_allclose(fast, plain_unfused(pipe), atol=1e-4)
    assert np.abs(fast - before).max() > 1e-3


def test_a_merge_that_reallocates_the_weights_is_fused_again():
    pipe = build_pipeline("tiny", controlnets=0, seed=5)
    runner = fused_runner()
    runner.run(pipe, **call_kwargs())
    attention = next(m for n, m in pipe.unet.named_modules() if n.endswith("attn1"))
    attention.to_k.weight.data = attention.to_k.weight.data + 0.2  # as peft's safe merge does
    assert not levers._views_intact(attention)
    fast = runner.run(pipe, **call_kwargs()).images
    assert levers._views_intact(attention)
    np.testing.assert_allclose(fast, plain_unfused(pipe), atol=1e-4)


def test_levers_at_their_defaults_keep_the_artifact_names_and_other_modules_share_the_default_ones():
    assert BuildOptions().key() == {"backend": "inductor", "attention": "default"}
    pipe = build_pipeline("tiny", controlnets=0, seed=1)
    recipe = Recipe.of(pipe.unet)
    assert recipe is not None
    device = torch.device("cpu")
    names = {artifact_name(recipe, "s", BuildOptions(**kw), device) for kw in ({}, {"fuse_qkv": True})}
    assert len(names) == 2
    assert levers.effective(BuildOptions(fuse_qkv=True, precision="fp8"), pipe.vae.decoder) == BuildOptions()


def test_fused_projections_on_compiled_artifacts_match_the_plain_pipeline(tmp_path):
    pipe = build_pipeline("tiny", controlnets=0, seed=6)
    plain = pipe(**call_kwargs()).images
    _, fast = graphs_then_artifacts(pipe, BuildOptions("eager", fuse_qkv=True), tmp_path)
    np.testing.assert_allclose(fast, plain, atol=1e-4)


def graphs_then_artifacts(pipe: Any, build: BuildOptions, artifact_dir: Any) -> tuple[np.ndarray, np.ndarray]:
    """The images of a first call (graph tier, builds started), then of a call once the artifacts are built."""
    runner = FastRunner(FastOptions(backend="emulate", compile="background", artifact_dir=artifact_dir, build=build))
    try:
        graphs = runner.run(pipe, **call_kwargs()).images
        runner.wait_for_compiles(timeout=300)
        compiled = runner.run(pipe, **call_kwargs()).images
        assert runner.last is not None and runner.last.tiers["unet"] == ["compiled"]
    finally:
        runner.close()
    return graphs, compiled


def test_a_float8_linear_layer_is_close_to_the_half_precision_one_and_survives_a_dtype_move():
    torch.manual_seed(0)
    linear = torch.nn.Linear(640, 1280)
    x = torch.randn(2, 77, 640)
    quantized = fp8.Float8Linear(linear)
    exact, approximate = linear(x), quantized(x)
    error = ((approximate - exact).norm() / exact.norm()).item()
    assert 0.005 < error < 0.06  # e4m3 keeps 3 mantissa bits: a few percent, not nothing
    weights = quantized.weight_bytes.clone()
    quantized.to(torch.float16)  # as diffusers' from_pipe moves every module of a job's pipeline
    assert torch.equal(quantized.weight_bytes, weights)
    assert quantized.weight_scale_bits.dtype == torch.int32
    half = quantized(x.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), approximate, atol=0.05, rtol=0.05)


def fp8_runner(**kw: Any) -> FastRunner:
    return FastRunner(FastOptions(backend="emulate", build=BuildOptions(precision="fp8"), **kw))


def test_the_fp8_lever_puts_the_unets_linear_layers_in_float8_and_draws_nearly_the_same_images():
    pipe = build_pipeline("tiny", controlnets=0, seed=7)
    plain = pipe(**call_kwargs()).images
    runner = fp8_runner(compile="off")
    fast = runner.run(pipe, **call_kwargs()).images
    assert runner.last is not None and runner.last.path == "fast"
    assert levers.is_fp8(pipe.unet) and not runner.takes_lora(pipe)
    swapped = [name for name, m in pipe.unet.named_modules() if isinstance(m, fp8.Float8Linear)]
    assert any(name.endswith("attn1.to_q") for name in swapped) and any(name.endswith("ff.net.2") for name in swapped)
    assert not any("time_emb" in name or name.endswith("attn2.to_k") for name in swapped)
    assert np.abs(fast - plain).max() > 1e-4 and np.abs(fast - plain).mean() < 0.02
    again = runner.run(pipe, **call_kwargs()).images  # quantized once: the same graphs replay
    np.testing.assert_array_equal(again, fast)


def test_fp8_artifacts_compute_what_the_float8_graphs_compute(tmp_path):
    pipe = build_pipeline("tiny", controlnets=0, seed=8)
    graphs, compiled = graphs_then_artifacts(pipe, BuildOptions("eager", precision="fp8"), tmp_path)
    assert levers.is_fp8(pipe.unet)
    np.testing.assert_allclose(compiled, graphs, atol=1e-4)


def test_without_float8_tensor_cores_the_fp8_lever_leaves_the_unet_as_it_is(monkeypatch):
    monkeypatch.setattr(fp8, "supported", lambda device: False)  # as on an A10G (compute capability 8.6)
    levers._fp8_on.cache_clear()
    try:
        pipe = build_pipeline("tiny", controlnets=0, seed=9)
        plain = pipe(**call_kwargs()).images
        runner = fp8_runner(compile="off")
        fast = runner.run(pipe, **call_kwargs()).images
        assert not levers.is_fp8(pipe.unet) and runner.takes_lora(pipe)
        assert levers.effective(runner.options.build, pipe.unet).precision == "default"
        np.testing.assert_allclose(fast, plain, atol=1e-4)
    finally:
        levers._fp8_on.cache_clear()
