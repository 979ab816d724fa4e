"""The SDXL path (two text encoders, pooled embeddings, SDXL pipelines) on a tiny random SDXL pipeline."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from api_schema.payload import parse_payload
from inference_image.generation import generate
from inference_image.images import encode_image
from inference_image.inputs import prepare_inputs
from inference_image.runners import run_pipeline


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from inference_image.tokenizer import write_tokenizer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sdxl")
    text = {
        "vocab_size": 49408,
        "max_position_embeddings": 77,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "hidden_act": "gelu",
    }
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 16,
        attention_head_dim=(2, 4),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=16 + 6 * 8,
        transformer_layers_per_block=(1, 1),
        use_linear_projection=True,
        sample_size=8,
        norm_num_groups=32,
    )
    pipe = StableDiffusionXLPipeline(
        vae=AutoencoderKL(
            block_out_channels=(32,) * 4,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            norm_num_groups=32,
            latent_channels=4,
        ),
        text_encoder=CLIPTextModel(CLIPTextConfig(hidden_size=32, **text)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=16, projection_dim=16, **text)),
        tokenizer=CLIPTokenizer.from_pretrained(str(write_tokenizer(folder / "tokenizer"))),
        tokenizer_2=CLIPTokenizer.from_pretrained(str(write_tokenizer(folder / "tokenizer_2", pad_token="!"))),
        unet=unet,
        scheduler=EulerDiscreteScheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_sdxl_prompt_embeddings(sdxl):
    from inference_image.prompts import encode_prompts

    long_prompt = ", ".join(["a (cat:1.2)"] * 40)  # more than 75 tokens: two chunks
    embeds = encode_prompts(sdxl, long_prompt, "", clip_skip=1)
    assert embeds["prompt_embeds"].shape == (1, 154, 48)  # both encoders' penultimate states, concatenated
    assert embeds["negative_prompt_embeds"].shape == (1, 154, 48)
    assert embeds["pooled_prompt_embeds"].shape == (1, 16)
    assert torch.count_nonzero(embeds["negative_prompt_embeds"]) == 0  # an empty SDXL negative is zeros


def test_sdxl_txt2img_and_img2img(sdxl):
    payload = parse_payload(
        "txt2img", {"prompt": "a cube", "width": 64, "height": 64, "steps": 2, "seed": 3, "batch_size": 2}
    )
    images = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [3, 4], run_pipeline)
    assert [im.size for im in images] == [(64, 64), (64, 64)]
    payload = parse_payload(
        "img2img",
        {
            "prompt": "a cube",
            "width": 64,
            "height": 64,
            "steps": 4,
            "seed": 3,
            "init_images": [encode_image(images[0])],
            "denoising_strength": 0.5,
        },
    )
    assert generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [3], run_pipeline)[0].size == (64, 64)


def test_sdxl_on_the_fast_path_matches_and_compiles(sdxl, tmp_path):
    import numpy as np

    from inference_image.fast import FastOptions, FastRunner
    from inference_image.fast.aot import BuildOptions

    payload = parse_payload("txt2img", {"prompt": "a (red:1.2) cube", "width": 64, "height": 64, "steps": 2, "seed": 5})
    plain = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [5], run_pipeline)[0]
    options = FastOptions(
        backend="emulate", compile="background", artifact_dir=tmp_path, build=BuildOptions(backend="eager")
    )
    runner = FastRunner(options)
    try:
        first = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [5], runner)[0]
        runner.wait_for_compiles(timeout=300)
        compiled = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [5], runner)[0]
    finally:
        runner.close()
    # the UNet (with SDXL's added conditions) and the VAE decoder from artifacts; both text encoders replayed
    assert runner.last is not None and runner.last.tiers["unet"] == runner.last.tiers["vae_decoder"] == ["compiled"]
    assert runner.last.tiers["text_encoder"] == ["graph"] and runner.last.tiers["text_encoder_2"] == ["graph"]
    for image in (first, compiled):
        diff = np.abs(np.asarray(image, dtype=np.int16) - np.asarray(plain, dtype=np.int16))
        assert diff.max() <= 1, diff.max()


def test_sdxl_hires_fix_and_refiner(sdxl):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    from inference_image.hires import plan_hires
    from inference_image.hires_pass import HiresPass
    from inference_image.refiner import Refiner

    body = {"prompt": "a cube", "width": 64, "height": 64, "steps": 1, "seed": 3, "enable_hr": True,
            "hr_scale": 1.25, "hr_second_pass_steps": 1, "refiner_checkpoint": "r", "refiner_switch_at": 0.1}
    payload = parse_payload("txt2img", body)
    plan = plan_hires(payload)
    assert plan is not None
    hires = HiresPass(plan, sdxl, EulerDiscreteScheduler.from_config(sdxl.scheduler.config))
    # the refiner: the same pipeline with another UNet (its pooled embeddings and time ids go through the switch)
    other = StableDiffusionXLPipeline.from_pipe(sdxl, unet=type(sdxl.unet).from_config(sdxl.unet.config))
    refiner = Refiner(other, 0.1, "r [0123456789]")
    plain = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [3], run_pipeline, hires)[0]
    refined = generate(sdxl, payload, prepare_inputs(payload), [], [], 1, [3], run_pipeline, hires, refiner)[0]
    assert plain.size == refined.size == (80, 80)
    assert refiner.switched and refined.tobytes() != plain.tobytes()
