"""Hires fix, upscaler models, the refiner and ControlNet detected maps through the real server, tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdcloud_tools.sample_models import write_checkpoint
from tests.integration.inference.helpers import BASE, BUCKET, b64_png, image_of, invoke, job, scene

FAST = {**BASE, "steps": 2}


def run(server, body):
    response = invoke(server, body)
    assert response.status_code == 200, response.text
    return response.json()


def pixels(s3, key) -> np.ndarray:
    return np.asarray(image_of(s3, key)).astype(np.int16)


@pytest.fixture(scope="module")
def refiner_ref(s3, tmp_path_factory):
    path = write_checkpoint(tmp_path_factory.mktemp("refiner") / "tiny-refiner.safetensors", seed=99)
    s3.upload_file(str(path), BUCKET, "models/checkpoint/refiner-id/tiny-refiner.safetensors")
    return {"id": "refiner-id", "name": "tiny-refiner", "type": "checkpoint", "filename": path.name,
            "bucket": BUCKET, "key": "models/checkpoint/refiner-id/tiny-refiner.safetensors",
            "size_bytes": path.stat().st_size}


def test_hires_fix_doubles_the_size_and_writes_the_webui_entries(server, s3, model_refs):
    # Given a 64x64 txt2img job with the hires fix at scale 2, one second-pass step, another sampler
    payload = {**FAST, "enable_hr": True, "hr_scale": 2, "denoising_strength": 0.6, "hr_second_pass_steps": 1,
               "hr_upscaler": "Latent (nearest)", "hr_sampler_name": "DDIM", "hr_prompt": "a blue cube"}
    # When it runs
    manifest = run(server, job(model_refs, payload, job_id="hr-latent"))
    # Then the PNG is 128x128 and its infotext carries the hires entries as the WebUI writes them
    image = image_of(s3, manifest["images"][0])
    assert image.size == (128, 128) and image.info["parameters"] == manifest["info"]
    params = manifest["info"].split("\n")[-1]
    assert "Size: 64x64" in params
    assert ("Denoising strength: 0.6, Hires sampler: DDIM, Hires prompt: a blue cube, Hires upscale: 2, "
            "Hires steps: 1, Hires upscaler: Latent (nearest)") in params


def test_an_upscaler_model_and_a_resize_target(server, s3, model_refs):
    # Given the hires fix to 128x96 (a crop of the 128x128 upscale) with the tiny ESRGAN, and with Lanczos
    payload = {**FAST, "enable_hr": True, "hr_resize_x": 128, "hr_resize_y": 96, "hr_second_pass_steps": 1}
    esrgan = run(server, job(model_refs, {**payload, "hr_upscaler": "tiny-esrgan"}, job_id="hr-esrgan",
                             upscaler=model_refs["upscaler"]))
    lanczos = run(server, job(model_refs, {**payload, "hr_upscaler": "Lanczos"}, job_id="hr-lanczos"))
    # Then both are 128x96, the model made a difference, and the infotext names the upscaler and the target
    assert image_of(s3, esrgan["images"][0]).size == (128, 96)
    assert np.abs(pixels(s3, esrgan["images"][0]) - pixels(s3, lanczos["images"][0])).mean() > 1
    assert "Hires resize: 128x96, Hires steps: 1, Hires upscaler: tiny-esrgan" in esrgan["info"]
    # and a job naming an upscaler model it was not given is a 400 naming the field
    missing = invoke(server, job(model_refs, {**payload, "hr_upscaler": "tiny-esrgan"}, job_id="hr-missing"))
    assert missing.status_code == 400 and missing.json()["field"] == "payload.hr_upscaler"


def test_controlnet_hr_option_and_detected_maps(server, s3, model_refs):
    controlnets = {"tiny-controlnet": model_refs["controlnet"]}

    def hires_job(job_id, **unit_fields):
        unit = {"module": "canny", "model": "tiny-controlnet", "image": b64_png(scene()), "processor_res": 64,
                **unit_fields}
        payload = {**FAST, "enable_hr": True, "hr_second_pass_steps": 3,
                   "alwayson_scripts": {"controlnet": {"args": [unit]}}}
        return run(server, job(model_refs, payload, job_id=job_id, controlnets=controlnets))

    # Given the same unit applied to both passes, and to the low-res pass only (its maps not saved)
    both = hires_job("hr-cn-both")
    low_only = hires_job("hr-cn-low", hr_option="Low res only", save_detected_map=False)
    # Then the unit's maps follow the image, the high-res one first, as the extension returns them
    assert both["image_kinds"] == ["image", "detected_map", "detected_map"]
    assert [image_of(s3, key).size for key in both["images"]] == [(128, 128), (128, 128), (64, 64)]
    assert "parameters" not in image_of(s3, both["images"][1]).info
    assert low_only["image_kinds"] == ["image"] and len(low_only["images"]) == 1
    # and the second pass without the control differs
    assert np.abs(pixels(s3, both["images"][0]) - pixels(s3, low_only["images"][0])).mean() > 0.3


def test_the_refiner_takes_over_at_its_switch(server, s3, model_refs, refiner_ref):
    payload = {**FAST, "steps": 4, "refiner_checkpoint": "tiny-refiner"}
    plain = run(server, job(model_refs, FAST | {"steps": 4}, job_id="ref-0"))
    switched = run(server, job(model_refs, {**payload, "refiner_switch_at": 0.5}, job_id="ref-1", refiner=refiner_ref))
    never = run(server, job(model_refs, {**payload, "refiner_switch_at": 1.0}, job_id="ref-2", refiner=refiner_ref))
    # Then the refiner changed the image from its switch on and says so; at 1.0 it never takes over
    assert np.abs(pixels(s3, switched["images"][0]) - pixels(s3, plain["images"][0])).mean() > 1
    assert "Refiner: tiny-refiner [" in switched["info"] and switched["info"].endswith("Refiner switch at: 0.5")
    assert np.array_equal(pixels(s3, never["images"][0]), pixels(s3, plain["images"][0]))
    assert "Refiner" not in never["info"]


def test_an_img2img_unit_without_an_image_takes_the_init_image(server, s3, model_refs):
    init = scene().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    payload = {**FAST, "init_images": [b64_png(init)], "denoising_strength": 0.6,
               "alwayson_scripts": {"controlnet": {"args": [{"module": "none", "model": "tiny-controlnet"}]}}}
    manifest = run(server, job(model_refs, payload, "img2img", "i2i-cn-init",
                               controlnets={"tiny-controlnet": model_refs["controlnet"]}))
    assert manifest["image_kinds"] == ["image", "detected_map"]
    assert np.array_equal(pixels(s3, manifest["images"][1]), np.asarray(init).astype(np.int16))
