"""The hires fix's target size, second-pass schedule and infotext, and the pixel upscalers, as the WebUI has them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from api_schema.payload import parse_payload
from api_schema.upscalers import parse_upscaler
from inference_image import upscalers
from inference_image.hires import crop_latents, infotext_entries, plan_hires, upscale_latents
from inference_image.upscalers import upscale_image


def plan(**fields):
    return plan_hires(parse_payload("txt2img", {"width": 128, "height": 96, "steps": 10, "enable_hr": True, **fields}))


@pytest.mark.parametrize(("fields", "upscale_to", "truncate", "size"), [
    ({"hr_scale": 2}, (256, 192), (0, 0), (256, 192)),
    ({"hr_scale": 1.5}, (192, 144), (0, 0), (192, 144)),
    ({"hr_scale": 1.7}, (217, 163), (0, 0), (216, 160)),
    ({"hr_resize_x": 256}, (256, 192), (0, 0), (256, 192)),
    ({"hr_resize_y": 192}, (256, 192), (0, 0), (256, 192)),
    ({"hr_resize_x": 256, "hr_resize_y": 256}, (341, 256), (10, 0), (256, 256)),
    ({"hr_resize_x": 512, "hr_resize_y": 192}, (512, 384), (0, 24), (512, 192)),
])
def test_target_size_as_calculate_target_resolution(fields, upscale_to, truncate, size):
    hires = plan(**fields)
    assert (hires.upscale_to, hires.truncate, hires.size) == (upscale_to, truncate, size)
    latents = upscale_latents(torch.zeros(1, 4, 12, 16), hires)
    assert crop_latents(latents, hires.truncate).shape[2:] == (size[1] // 8, size[0] // 8)


@pytest.mark.parametrize(("steps", "strength"), [(10, 0.5), (10, 0.7), (7, 0.33), (4, 1.0), (20, 0.999), (1, 0.75)])
def test_the_second_pass_runs_exactly_its_steps(steps, strength):
    total, fraction = plan(hr_second_pass_steps=steps, denoising_strength=strength).schedule
    assert total == int(steps / min(strength, 0.999))
    assert min(int(total * fraction), total) == steps  # what diffusers' img2img get_timesteps runs


def test_no_hires_plan_without_enable_hr_and_none_without_denoising():
    assert plan_hires(parse_payload("txt2img", {"hr_scale": 3})) is None
    with pytest.raises(Exception, match="denoising_strength"):
        plan(denoising_strength=0)


def test_infotext_entries_as_the_webui_writes_them():
    payload = parse_payload("txt2img", {"enable_hr": True, "hr_scale": 2.5, "hr_upscaler": "Lanczos",
                                        "hr_second_pass_steps": 4, "hr_sampler_name": "DPM++ 2M Karras",
                                        "hr_prompt": "x", "width": 64, "height": 64, "steps": 10})
    entries = {k: v for k, v in infotext_entries(plan_hires(payload), payload, "other [0123456789]").items() if v}
    assert entries == {"Hires checkpoint": "other [0123456789]", "Hires sampler": "DPM++ 2M", "Hires prompt": "x",
                       "Hires schedule type": "Karras", "Hires upscale": 2.5, "Hires steps": 4,
                       "Hires upscaler": "Lanczos"}
    same = parse_payload("txt2img", {"enable_hr": True, "hr_resize_x": 96, "hr_resize_y": 80, "width": 64,
                                     "height": 64})
    assert {k: v for k, v in infotext_entries(plan_hires(same), same, None).items() if v} == {
        "Hires resize": "96x80"}


def test_pixel_upscalers():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    nearest = upscale_image(image, 32, 32, parse_upscaler("Nearest"))
    assert nearest.size == (32, 32)
    assert np.array_equal(np.asarray(nearest)[::4, ::4], np.asarray(image))  # each pixel became a 4x4 block
    assert upscale_image(image, 32, 24, parse_upscaler("Lanczos")).size == (32, 24)
    assert upscale_image(image, 4, 4, parse_upscaler("None")).size == (4, 4)


def test_an_esrgan_model_through_spandrel_tiles_large_images(monkeypatch):
    from spandrel import ModelLoader
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    model = ModelLoader().load_from_state_dict(ESRGAN(num_filters=4, num_blocks=1, scale=2).state_dict()).eval()
    rng = np.random.default_rng(1)
    small = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    upscaled = upscale_image(small, 32, 32, parse_upscaler("tiny"), model)
    with torch.inference_mode():
        bgr = torch.from_numpy(np.asarray(small)[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
        direct = (model(bgr)[0].clamp(0, 1).permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round()
    assert upscaled.size == (32, 32) and np.abs(np.asarray(upscaled) - direct).max() <= 1  # the model's own output
    # An image larger than a tile goes through in overlapping tiles (tiles of 8 here, 192 in the WebUI)
    monkeypatch.setattr(upscalers, "TILE", 8)
    monkeypatch.setattr(upscalers, "TILE_OVERLAP", 2)
    tiled = upscale_image(small, 32, 32, parse_upscaler("tiny"), model)
    assert tiled.size == (32, 32) and 0 < np.abs(np.asarray(tiled) - direct).mean() < 20
