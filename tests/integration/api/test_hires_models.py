"""Hires fix, refiner and upscaler models at submit: resolved into the job's input, or a 400 naming the field."""

from __future__ import annotations

import boto3
import pytest
import requests

from api_schema.jobs import InferenceInput
from tests.integration.api.test_inferences import PNG, s3_keys, submit, txt2img


@pytest.fixture
def checkpoint(ready_model):
    return ready_model("sd15", "checkpoint")


def stored_input(aws, job_id: str) -> InferenceInput:
    body = boto3.client("s3").get_object(Bucket=aws.settings.bucket, Key=f"inputs/{job_id}.json")["Body"].read()
    return InferenceInput.model_validate_json(body)


def test_hires_refiner_and_upscaler_models_are_resolved(gateway, user_key, endpoint, ready_model, checkpoint, aws):
    # Given an uploaded upscaler model and a second checkpoint
    upscaler = ready_model("4x-tiny", "upscaler", filename="4x-tiny.pth")
    other = ready_model("other", "checkpoint")
    payload = txt2img(enable_hr=True, hr_scale=2, hr_upscaler="4x-tiny", hr_checkpoint_name="other.safetensors",
                      refiner_checkpoint="other [0123456789]", refiner_switch_at=0.8)
    # When a job uses them
    reply = submit(gateway, user_key, payload)
    # Then its input names them for the container
    assert reply.status == 202, reply.body
    models = stored_input(aws, reply.body["inference"]["id"]).models
    assert models.upscaler is not None and models.upscaler.id == upscaler["id"] and models.upscaler.type == "upscaler"
    assert models.hr_checkpoint is not None and models.hr_checkpoint.id == other["id"]
    assert models.refiner is not None and models.refiner.id == other["id"]


def test_built_in_upscalers_and_disabled_hires_need_no_model(gateway, user_key, endpoint, checkpoint, aws):
    for payload in (txt2img(enable_hr=True, hr_upscaler="latent (bicubic antialiased)"),
                    txt2img(enable_hr=True, hr_upscaler="Lanczos"),
                    txt2img(enable_hr=False, hr_upscaler="not-uploaded", hr_checkpoint_name="nope"),
                    txt2img(refiner_checkpoint="nope", refiner_switch_at=1.0)):
        reply = submit(gateway, user_key, payload)
        assert reply.status == 202, (payload, reply.body)
        models = stored_input(aws, reply.body["inference"]["id"]).models
        assert models.upscaler is None and models.hr_checkpoint is None and models.refiner is None


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"enable_hr": True, "hr_upscaler": "4x-missing"}, "payload.hr_upscaler", "upscaler model '4x-missing'"),
    ({"enable_hr": True, "hr_upscaler": "sd15"}, "payload.hr_upscaler", "not an upscaler"),
    ({"enable_hr": True, "hr_checkpoint_name": "missing"}, "payload.hr_checkpoint_name", "'missing' is not registered"),
    ({"refiner_checkpoint": "missing", "refiner_switch_at": 0.8}, "payload.refiner_checkpoint", "'missing'"),
    ({"enable_hr": True, "hr_sampler_name": "Bogus"}, "payload.hr_sampler_name", "unknown sampler"),
    ({"enable_hr": True, "hr_prompt": "x <lora:other:1>"}, "payload.hr_prompt", "LoRA tags"),
    ({"alwayson_scripts": {"controlnet": {"args": [{"model": "cn", "image": PNG, "hr_option": "Sometimes"}]}}},
     "payload.alwayson_scripts.controlnet.args.0.hr_option", "hr_option"),
])
def test_unknown_hires_models_and_names_are_400(gateway, user_key, endpoint, checkpoint, aws, changes, field, words):
    reply = submit(gateway, user_key, txt2img(**changes))

    assert reply.status == 400, reply.body
    assert reply.body["field"] == field and words in reply.message, reply.body
    assert s3_keys(aws, "inputs/") == []


def test_detected_maps_are_marked_in_the_job_images(gateway, user_key, endpoint, checkpoint, aws):
    from api_schema.jobs import InferenceManifest, Timings
    from lambdas.data.jobs import mark_succeeded

    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    keys = [f"outputs/{job_id}/image_{i}.png" for i in range(3)]
    for key in keys:
        boto3.client("s3").put_object(Bucket=aws.settings.bucket, Key=key, Body=b"png")
    assert mark_succeeded(job_id, InferenceManifest(
        job_id=job_id, images=keys, image_kinds=["image", "detected_map", "detected_map"], info="a cat",
        infotexts=[], parameters={}, seeds=[1], timings=Timings()))

    job = gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]

    assert [(image["key"], image["kind"]) for image in job["images"]] == [
        (keys[0], "image"), (keys[1], "detected_map"), (keys[2], "detected_map")]
    assert all(requests.get(image["url"], timeout=30).content == b"png" for image in job["images"])
