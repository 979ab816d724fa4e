"""A new user's journey over HTTP, and a job that fails inside the container, on the real local stack."""

from __future__ import annotations

import io

import requests
from e2e_helpers import Api, tiny_payload, upload_over_http, wait_job
from PIL import Image

from sdcloud.demo import control_images


def test_a_new_user_uploads_models_and_gets_images_with_lora_vae_and_controlnet(admin, user, models, endpoint):
    # Given: the admin made the user (fixture `user`), the user's models went up as presigned multipart
    # uploads, and the admin's endpoint is InService.
    assert all(model["status"] == "ready" and model["owner"] == "alice" for model in models.values())
    assert models["checkpoint"]["parts"] >= 2, "the checkpoint is big enough to need several parts"
    listed = {m["name"] for m in user.ok("GET", "/models", params={"type": "checkpoint"})["models"]}
    assert models["checkpoint"]["name"] in listed
    assert user.call("POST", "/endpoints", json={"name": "mine"}).status_code == 403, "only admins create endpoints"

    # When: the user submits txt2img with a LoRA tag, a VAE and two ControlNet units (canny, openpose)
    images = control_images(64)
    lora = models["lora"]["name"]
    payload = tiny_payload(models, prompt=f"a lighthouse at dusk <lora:{lora}:0.8>", negative_prompt="blurry",
                           steps=3, sampler_name="Euler a", cfg_scale=6.5, seed=1234)
    payload["override_settings"]["sd_vae"] = models["vae"]["name"]
    payload["alwayson_scripts"] = {"controlnet": {"args": [
        {"module": "canny", "model": models["controlnet"]["name"], "weight": 0.8, "image": images["canny"],
         "processor_res": 64},
        {"module": "openpose", "model": models["controlnet"]["name"], "weight": 0.6, "image": images["openpose"],
         "processor_res": 64},
    ]}}
    created = user.ok("POST", "/inferences", 202, json={"endpoint_name": endpoint, "task": "txt2img",
                                                         "payload": payload})["inference"]
    assert created["status"] == "in_progress"

    # Then: polling ends in `succeeded`, the PNGs download from their URLs and carry the WebUI infotext
    job = wait_job(user, created["id"])
    assert job["status"] == "succeeded", job.get("error")
    assert job["seeds"] == [1234]
    # one image, then each unit's detected map, as the extension returns them (save_detected_map defaults to true)
    assert [image["kind"] for image in job["images"]] == ["image", "detected_map", "detected_map"]
    info = job["info"]
    assert info.startswith(f"a lighthouse at dusk <lora:{lora}:0.8>\nNegative prompt: blurry\n")
    for expected in ("Steps: 3", "Sampler: Euler a", "CFG scale: 6.5", "Seed: 1234", "Size: 64x64",
                     f"Model: {models['checkpoint']['name']}", f"VAE: {models['vae']['name']}",
                     "ControlNet 0: ", "Module: canny", "ControlNet 1: ", "Module: openpose", "Lora hashes: "):
        assert expected in info, f"{expected!r} missing from the infotext {info!r}"
    png = requests.get(job["images"][0]["url"], timeout=30)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png.content))
    assert image.size == (64, 64)
    assert image.info["parameters"] == info

    # and the job is the user's alone, newest first in the list
    assert user.ok("GET", "/inferences", params={"limit": 5})["inferences"][0]["id"] == job["id"]
    stranger = Api(admin.url, admin.ok("POST", "/users", 201, json={"name": "bob"})["api_key"])
    assert stranger.call("GET", f"/inferences/{job['id']}").status_code == 404
    assert stranger.ok("GET", "/inferences")["inferences"] == []


def test_a_job_that_fails_in_the_container_ends_failed_with_its_reason(user, models, endpoint, tmp_path):
    # Given: a checkpoint whose file is not a model at all (the control plane cannot know; the container can)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"this is not a safetensors file" * 100)
    model, _ = upload_over_http(user, broken, "broken", "checkpoint")

    # When: a job uses it
    payload = tiny_payload(models)
    payload["override_settings"]["sd_model_checkpoint"] = model["name"]
    created = user.ok("POST", "/inferences", 202, json={"endpoint_name": endpoint, "task": "txt2img",
                                                         "payload": payload})["inference"]

    # Then: it ends failed, saying why, and without images
    job = wait_job(user, created["id"])
    assert job["status"] == "failed"
    assert "not a readable .safetensors file" in job["error"], job["error"]
    assert job["images"] == []


def test_bad_input_is_a_4xx_naming_the_field(user, endpoint):
    response = user.call("POST", "/inferences", json={"endpoint_name": endpoint, "task": "txt2img",
                                                      "payload": {"prompt": "x", "steps": 0}})
    assert response.status_code == 400
    assert "steps" in response.text
    unknown = user.call("POST", "/inferences", json={"endpoint_name": endpoint, "task": "txt2img", "payload": {
        "override_settings": {"sd_model_checkpoint": "no-such-model"}}})
    assert unknown.status_code == 400 and "no-such-model" in unknown.text


def test_hires_fix_with_an_uploaded_upscaler_model(user, models, endpoint):
    # Given: the tiny ESRGAN uploaded as a model of type upscaler (the `models` fixture uploads every sample)
    upscaler = models["upscaler"]
    assert upscaler["type"] == "upscaler" and upscaler["status"] == "ready"
    assert [m["name"] for m in user.ok("GET", "/models", params={"type": "upscaler"})["models"]] == [upscaler["name"]]

    # When: a 64x64 job asks for the hires fix at scale 2 through it
    payload = tiny_payload(models, enable_hr=True, hr_scale=2, hr_upscaler=upscaler["name"], hr_second_pass_steps=1,
                           denoising_strength=0.5)
    created = user.ok("POST", "/inferences", 202, json={"endpoint_name": endpoint, "task": "txt2img",
                                                         "payload": payload})["inference"]
    assert created["warnings"] == []

    # Then: the PNG is 128x128 and its infotext carries the WebUI's hires entries
    job = wait_job(user, created["id"])
    assert job["status"] == "succeeded", job.get("error")
    image = Image.open(io.BytesIO(requests.get(job["images"][0]["url"], timeout=30).content))
    assert image.size == (128, 128) and image.info["parameters"] == job["info"]
    assert ("Size: 64x64, Model hash: " in job["info"] and "Denoising strength: 0.5, Hires upscale: 2, "
            f"Hires steps: 1, Hires upscaler: {upscaler['name']}" in job["info"]), job["info"]

    # and an upscaler that was never uploaded is a 400 naming the field, before anything runs
    missing = user.call("POST", "/inferences", json={"endpoint_name": endpoint, "task": "txt2img",
                                                     "payload": {**payload, "hr_upscaler": "4x-never-uploaded"}})
    assert missing.status_code == 400 and missing.json()["field"] == "payload.hr_upscaler", missing.text
