"""FastRunner against the plain pipeline on tiny random-weight SD pipelines (CPU)."""

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inference_image.fast import FastOptions, FastRunner
from inference_image.fast.aot import BuildOptions
from sdcloud_tools.benchmarks.models import build_pipeline, control_image

SIZE = 32
# the text encoder has a graph tier only (no artifact): see fast/runner.py
COMPILED = {"unet": ["compiled"], "vae_decoder": ["compiled"], "text_encoder": ["graph"]}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pipe():
    return build_pipeline("tiny", controlnets=2)


def call_kwargs(seed: int = 1, **extra):
    kw = {
        "prompt": "a red cat",
        "negative_prompt": "blurry",
        "height": SIZE,
        "width": SIZE,
        "num_inference_steps": 3,
        "guidance_scale": 7.0,
        "output_type": "np",
        "generator": torch.Generator().manual_seed(seed),
    }
    kw.update(extra)
    return kw


def two_units():
    images = [control_image(SIZE, SIZE, seed=i) for i in range(2)]
    return {"image": images, "controlnet_conditioning_scale": [1.0, 0.7], "control_guidance_end": [1.0, 0.5]}


def without_controlnet(pipe) -> dict[str, Any]:
    return {k: v for k, v in pipe.components.items() if k != "controlnet"}


def emulated(**kw) -> FastRunner:
    return FastRunner(FastOptions(backend="emulate", compile="off", **kw))


def compiling(artifacts, backend: str = "eager", **kw) -> FastRunner:
    """Artifacts built by child processes; "eager" compiles without Inductor (fast), "inductor" for real."""
    options = FastOptions(
        backend="emulate", compile="background", artifact_dir=artifacts, build=BuildOptions(backend=backend), **kw
    )
    return FastRunner(options)


def test_two_controlnet_units_match_the_plain_pipeline(pipe):
    runner = emulated()
    fast = runner.run(pipe, **call_kwargs(**two_units())).images
    plain = pipe(**call_kwargs(**two_units())).images
    assert runner.last is not None and runner.last.path == "fast"
    assert set(runner.last.tiers) == {"unet", "controlnet_0", "controlnet_1", "vae_decoder", "text_encoder"}
    assert not np.isnan(fast).any()
    np.testing.assert_allclose(fast, plain, atol=1e-4)


def test_txt2img_matches_and_a_second_call_replays(pipe):
    from diffusers import StableDiffusionPipeline

    txt2img: Any = StableDiffusionPipeline(**without_controlnet(pipe))
    txt2img.set_progress_bar_config(disable=True)
    runner = emulated()
    first = runner.run(txt2img, **call_kwargs(seed=3)).images
    again = np.stack([np.asarray(im) for im in runner(txt2img, call_kwargs(seed=3))])  # the Runner hook
    np.testing.assert_allclose(first, txt2img(**call_kwargs(seed=3)).images, atol=1e-4)
    np.testing.assert_array_equal(first, again)


def test_one_model_used_by_two_units_is_wrapped_once(pipe):
    from diffusers import StableDiffusionControlNetPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    net = pipe.controlnet.nets[0]
    parts = without_controlnet(pipe)
    shared: Any = StableDiffusionControlNetPipeline(controlnet=MultiControlNetModel([net, net]), **parts)
    shared.set_progress_bar_config(disable=True)
    runner = emulated()
    fast = runner.run(shared, **call_kwargs(**two_units())).images
    assert runner.last is not None and "controlnet_1" not in runner.last.tiers
    np.testing.assert_allclose(fast, shared(**call_kwargs(**two_units())).images, atol=1e-4)


def test_without_cuda_the_default_runner_is_the_plain_pipeline(pipe):
    runner = FastRunner()
    fast = runner.run(pipe, **call_kwargs(**two_units())).images
    assert runner.last is not None and runner.last.path == "plain" and "CUDA" in runner.last.reason
    np.testing.assert_array_equal(fast, pipe(**call_kwargs(**two_units())).images)


def test_disabled_runner_is_the_plain_pipeline(pipe):
    runner = FastRunner(FastOptions(enabled=False, backend="emulate"))
    runner.run(pipe, **call_kwargs(**two_units()))
    assert runner.last is not None and runner.last.path == "plain"


def test_background_compile_moves_a_signature_to_the_compiled_tier(pipe, tmp_path):
    from diffusers import StableDiffusionPipeline

    txt2img: Any = StableDiffusionPipeline(**without_controlnet(pipe))
    txt2img.set_progress_bar_config(disable=True)
    runner = compiling(tmp_path)
    try:
        runner.run(txt2img, **call_kwargs())
        assert runner.last is not None and runner.last.tiers["unet"] == ["graph"]
        runner.wait_for_compiles(timeout=300)
        out = runner.run(txt2img, **call_kwargs()).images
        assert runner.last.tiers["unet"] == ["compiled"]
    finally:
        runner.close()
    np.testing.assert_allclose(out, txt2img(**call_kwargs()).images, atol=1e-4)


def builds_under(directory) -> list[str]:
    """The command lines of the artifact builds (child processes) writing under `directory`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
            if "inference_image.fast.aot" in args and any(str(directory) in a for a in args):
                found.append(" ".join(args))
    return found


def test_closing_the_runner_ends_its_running_builds_and_it_keeps_serving(pipe, tmp_path):
    from diffusers import StableDiffusionPipeline

    txt2img: Any = StableDiffusionPipeline(**without_controlnet(pipe))
    txt2img.set_progress_bar_config(disable=True)
    runner = compiling(tmp_path, backend="inductor")
    try:
        # Given a job that started the builds of its UNet and VAE decoder (Inductor on the CPU: seconds)
        runner.run(txt2img, **call_kwargs())
        deadline = time.monotonic() + 60
        while not builds_under(tmp_path):
            assert time.monotonic() < deadline, "no build started"
            time.sleep(0.05)

        # When the runner closes (the server shuts down)
        started = time.monotonic()
        runner.close()

        # Then the builds end at once, unfinished and not counted as failures, and no build starts again
        assert time.monotonic() - started < 15
        assert not builds_under(tmp_path)
        assert not list(tmp_path.glob("*.pt"))
        assert not runner._wrappers[txt2img.unet][1].stats.failures
        out = runner.run(txt2img, **call_kwargs()).images
        assert runner.last is not None and runner.last.tiers["unet"] == ["graph"]
        assert not builds_under(tmp_path)
    finally:
        runner.close()
    np.testing.assert_allclose(out, txt2img(**call_kwargs()).images, atol=1e-4)


def test_lora_runs_plain_until_fused_then_fast_with_the_same_graphs():
    from peft import LoraConfig

    pipe = build_pipeline("tiny", controlnets=0, seed=5)
    runner = emulated()
    runner.run(pipe, **call_kwargs())
    wrapper_before = runner._wrappers[pipe.unet][1]

    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in pipe.unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # peft starts B at zero: make the adapter change the image
    runner.run(pipe, **call_kwargs())
    assert runner.last is not None and runner.last.path == "plain" and "LoRA" in runner.last.reason

    for module in pipe.unet.modules():
        if hasattr(module, "merge") and hasattr(module, "active_adapters"):
            module.merge()  # in place: the graphs keep their weight addresses
    fused = runner.run(pipe, **call_kwargs()).images
    assert runner.last.path == "fast"
    assert runner._wrappers[pipe.unet][1] is wrapper_before
    np.testing.assert_allclose(fused, pipe(**call_kwargs()).images, atol=1e-4)


def test_warm_up_leaves_every_shape_compiled(pipe, tmp_path):
    runner = compiling(tmp_path, build_workers=4)
    try:
        runner.warm_up(pipe, sizes=((32, 32), (32, 48)), steps=1)
        runner.run(pipe, **call_kwargs(**two_units()))
    finally:
        runner.close()
    assert runner.last is not None
    for name in ("unet", "controlnet_0", "controlnet_1", "vae_decoder"):
        assert runner.last.tiers[name] and set(runner.last.tiers[name]) == {"compiled"}, name


def test_img2img_matches_the_plain_pipeline(pipe):
    from diffusers import StableDiffusionImg2ImgPipeline

    img2img: Any = StableDiffusionImg2ImgPipeline(**without_controlnet(pipe))
    img2img.set_progress_bar_config(disable=True)
    init = control_image(SIZE, SIZE, seed=7)
    kwargs = {k: v for k, v in call_kwargs().items() if k not in ("height", "width")}
    runner = emulated()
    fast = runner.run(img2img, image=init, strength=0.6, **kwargs).images
    kwargs["generator"] = torch.Generator().manual_seed(1)
    plain = img2img(image=init, strength=0.6, **kwargs).images
    assert runner.last is not None and runner.last.path == "fast"
    np.testing.assert_allclose(fast, plain, atol=1e-4)


def test_the_runner_does_not_keep_an_evicted_pipeline_alive():
    import gc
    import weakref

    pipe = build_pipeline("tiny", controlnets=1, seed=9)
    runner = emulated()
    runner.run(pipe, **call_kwargs(image=control_image(SIZE, SIZE)))
    assert len(runner._wrappers) == 4  # UNet, ControlNet, VAE decoder, text encoder
    unet = weakref.ref(pipe.unet)

    # When the model pool drops its last reference to the pipeline
    del pipe
    gc.collect()

    # Then its modules, and the graphs kept for them, are gone
    assert unet() is None and len(runner._wrappers) == 0


def test_a_fresh_runner_serves_built_artifacts_from_the_first_call_for_any_checkpoint_and_fused_lora(tmp_path):
    from peft import LoraConfig

    # Given Inductor artifacts built for one checkpoint
    builder = compiling(tmp_path, backend="inductor")
    try:
        builder.warm_up(build_pipeline("tiny", seed=1), sizes=((SIZE, SIZE),), steps=1)
    finally:
        builder.close()
    built = sorted(p.name for p in tmp_path.glob("*.pt"))
    assert len(built) == 2, built  # the UNet (CFG batch 2) and the VAE decoder

    # When a fresh runner serves another checkpoint of the architecture
    other = build_pipeline("tiny", seed=2)
    runner = compiling(tmp_path, backend="inductor")
    fast = runner.run(other, **call_kwargs()).images
    assert runner.last is not None and runner.last.tiers == COMPILED
    np.testing.assert_allclose(fast, other(**call_kwargs()).images, atol=1e-4)

    # Then a LoRA fused into its UNet in place is drawn by the same artifacts, with nothing built
    other.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in other.unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    for module in other.unet.modules():
        if hasattr(module, "merge") and hasattr(module, "active_adapters"):
            module.merge()
    fused = runner.run(other, **call_kwargs()).images
    assert runner.last.tiers["unet"] == ["compiled"] and not runner._jobs
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == built
    np.testing.assert_allclose(fused, other(**call_kwargs()).images, atol=1e-4)
    assert np.abs(fused - fast).max() > 1e-3


def test_prompt_encoding_replays_the_text_encoder_and_an_unfused_text_encoder_lora_runs_as_is(pipe):
    from diffusers.utils.peft_utils import recurse_remove_peft_layers
    from peft import LoraConfig, inject_adapter_in_model

    from inference_image.prompts import encode_prompts

    long = ", ".join(["a (red:1.3) cat on a mat"] * 12)  # several 77-token chunks, weights

    def encode(runner: FastRunner | None, clip_skip: int) -> dict[str, torch.Tensor]:
        with runner.fast_modules(pipe) if runner else contextlib.nullcontext():
            return encode_prompts(pipe, long, "blurry", clip_skip)

    # Given the container's prompt encoding, within the runner's fast modules
    runner = emulated()
    for clip_skip in (1, 2):
        fast, plain = encode(runner, clip_skip), encode(None, clip_skip)
        # Then it replays the text encoder's graph, and the negative's encode did not overwrite the positive's
        assert runner.last is not None and runner.last.tiers["text_encoder"] == ["graph"]
        for name in plain:
            torch.testing.assert_close(fast[name], plain[name], atol=1e-5, rtol=0)

    base = encode(None, 1)
    graphs = runner._wrappers[pipe.text_encoder][1]
    captures = graphs.stats.captures

    # When a LoRA sits unfused on the text encoder, the encoder runs as it is, LoRA included
    # (as diffusers' load_lora_weights puts it there, and unload_lora_weights takes it away)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"]), pipe.text_encoder)
    try:
        with torch.no_grad():
            for name, p in pipe.text_encoder.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)
        with_lora = encode(runner, 1)
        assert runner.last is not None and "text_encoder" not in runner.last.tiers
        torch.testing.assert_close(with_lora["prompt_embeds"], encode(None, 1)["prompt_embeds"], atol=1e-5, rtol=0)
        assert (with_lora["prompt_embeds"] - base["prompt_embeds"]).abs().max() > 1e-3
    finally:
        recurse_remove_peft_layers(pipe.text_encoder)
    # Then without it, the same graph serves again, nothing captured anew
    again = encode(runner, 1)
    assert runner.last.tiers["text_encoder"] == ["graph"]
    assert runner._wrappers[pipe.text_encoder][1] is graphs and graphs.stats.captures == captures
    torch.testing.assert_close(again["prompt_embeds"], base["prompt_embeds"], atol=1e-5, rtol=0)


@pytest.fixture()
def sdxl_half_vae():
    """A tiny SDXL pipeline in float16, its VAE with `force_upcast`, as SDXL checkpoints load."""
    pipe = build_pipeline("tiny-xl", seed=4, dtype=torch.float16)
    assert pipe.vae.config.force_upcast
    return pipe


def test_an_upcast_vae_decodes_in_half_precision_on_the_fast_path_and_keeps_its_graph(sdxl_half_vae):
    pipe = sdxl_half_vae
    runner = emulated()
    fast = runner.run(pipe, **call_kwargs()).images
    decoder = runner._wrappers[pipe.vae.decoder][1]
    again = runner.run(pipe, **call_kwargs()).images

    # Then the VAE stayed in half precision (no re-allocated weights, so the same graph replays) ...
    assert pipe.vae.dtype == torch.float16 and pipe.vae.config.force_upcast
    assert runner._wrappers[pipe.vae.decoder][1] is decoder and decoder.stats.captures == 1
    assert runner.last is not None and runner.last.tiers["vae_decoder"] == ["graph"]
    assert "vae_decoder_fp32" not in runner.last.tiers
    np.testing.assert_array_equal(fast, again)
    # ... and the images are the plain pipeline's (which decodes in float32) within half precision
    plain = pipe(**call_kwargs()).images
    assert pipe.vae.dtype == torch.float16
    np.testing.assert_allclose(fast, plain, atol=2e-3)


@pytest.mark.parametrize("option", ["auto", "float32"])
def test_a_vae_that_overflows_in_half_precision_decodes_in_float32_from_then_on(sdxl_half_vae, option):
    pipe = sdxl_half_vae
    with torch.no_grad():
        pipe.vae.decoder.conv_out.bias[0] = 7e4  # the red channel: finite in float32, inf in float16
    plain = pipe(**call_kwargs()).images
    assert np.isfinite(plain).all() and (plain[..., 0] == 1).all() and np.ptp(plain[..., 1:]) > 0

    runner = emulated(vae_decode=option)
    fast = runner.run(pipe, **call_kwargs()).images
    assert runner.last is not None and runner.last.tiers["vae_decoder_fp32"] == ["graph"]
    np.testing.assert_allclose(fast, plain, atol=5e-3)  # the float32 decode is cast back to half precision
    # the next call goes to float32 at once: the half-precision decoder is not run again
    half = runner._wrappers[pipe.vae.decoder][1]
    replays = half.stats.replays
    runner.run(pipe, **call_kwargs())
    assert half.stats.replays == replays and pipe.vae.dtype == torch.float16


@pytest.mark.parametrize("units", [0, 1])
def test_the_task_pipeline_of_a_half_precision_checkpoint_stays_in_half_precision(units):
    """diffusers' from_pipe moves every shared module to float32 unless told the dtype: the container's
    jobs then ran in float32 (RESULTS.md run 12), and the fast path's graphs lost their weights."""
    from types import SimpleNamespace

    from api_schema.payload import parse_payload
    from inference_image.generation import task_of, task_pipeline
    from inference_image.inputs import prepare_inputs

    base = build_pipeline("tiny", controlnets=units, dtype=torch.float16)
    nets = [base.controlnet] if units else []
    weights = base.unet.conv_in.weight.data_ptr()
    payload = parse_payload("txt2img", {"prompt": "a", "width": 64, "height": 64, "steps": 2})
    prepared: Any = [SimpleNamespace(unit=SimpleNamespace(control_mode="Balanced"))] * units
    pipe = task_pipeline(base, task_of(base, prepare_inputs(payload)), prepared, nets, True)
    assert pipe.unet is base.unet and base.unet.dtype == base.vae.dtype == torch.float16
    assert base.unet.conv_in.weight.data_ptr() == weights
