"""WebUI bodies at the front door: warnings kept with the job, every problem in one 400, what fails at submit."""

from __future__ import annotations

import json

import boto3
import pytest
import requests
from test_inferences import PNG, s3_keys, submit, txt2img


@pytest.fixture
def checkpoint(ready_model):
    return ready_model("sd15", "checkpoint")


def stored_payload(aws, job_id):
    key = f"inputs/{job_id}.json"
    return json.loads(boto3.client("s3").get_object(Bucket=aws.settings.bucket, Key=key)["Body"].read())["payload"]


def test_fields_accepted_but_unused_are_the_jobs_warnings_in_get_and_list(gateway, user_key, endpoint, checkpoint):
    # Given: a body with fields the WebUI ignores here, an unknown key and another extension's script
    payload = txt2img(enable_hr=False, hr_scale=2, send_images=True, bogus=1,
                      alwayson_scripts={"ADetailer": {"args": [False]}})

    reply = submit(gateway, user_key, payload)

    assert reply.status == 202, reply.body
    warnings = reply.body["inference"]["warnings"]
    assert [w["field"] for w in warnings] == ["payload.send_images", "payload.bogus",
                                              "payload.alwayson_scripts.ADetailer", "payload.hr_scale"]
    assert all(w["message"].startswith("ignored") for w in warnings)
    job_id = reply.body["inference"]["id"]
    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["warnings"] == warnings
    assert gateway.get("/inferences", key=user_key).body["inferences"][0]["warnings"] == warnings
    clean = submit(gateway, user_key, txt2img())
    assert clean.body["inference"]["warnings"] == []


def test_a_400_names_every_problem_and_changes_nothing(gateway, user_key, endpoint, checkpoint, aws):
    payload = txt2img(steps=0, width=65, sampler_name="Magic", tiling=True, restore_faces=True,
                      override_settings={"sd_model_checkpoint": "sd15"})

    reply = submit(gateway, user_key, payload)

    assert reply.status == 400
    fields = [e["field"] for e in reply.body["errors"]]
    assert fields == ["payload.tiling", "payload.restore_faces", "payload.sampler_name", "payload.steps",
                      "payload.width"]
    assert (reply.body["field"], reply.body["message"]) == (fields[0], reply.body["errors"][0]["message"])
    assert s3_keys(aws, "inputs/") == []


def test_every_unusable_model_is_named_at_once(gateway, user_key, endpoint, checkpoint):
    payload = txt2img(prompt="<lora:gone:1>", override_settings={"sd_model_checkpoint": "nope", "sd_vae": "bad"})

    reply = submit(gateway, user_key, payload)

    assert [e["field"] for e in reply.body["errors"]] == ["payload.override_settings.sd_model_checkpoint",
                                                          "payload.override_settings.sd_vae", "payload.prompt"]


@pytest.mark.parametrize("title", ["sd15", "sd15.safetensors", "sd15.safetensors [6ce0161689]",
                                   "SD1.5/sd15.safetensors [6ce0161689]", "SD1.5\\sd15.ckpt"])
def test_checkpoint_titles_as_the_webui_shows_them(gateway, user_key, endpoint, checkpoint, title):
    assert submit(gateway, user_key, txt2img(override_settings={"sd_model_checkpoint": title})).status == 202


def test_request_validation_errors_are_all_listed(gateway, user_key, endpoint):
    reply = gateway.post("/inferences", key=user_key, json_body={"endpoint_name": "s d", "task": "inpaint"})

    assert reply.status == 400
    assert {e["field"] for e in reply.body["errors"]} == {"endpoint_name", "task"}


@pytest.mark.parametrize(("payload", "task", "field"), [
    (txt2img(init_images=["bm90IGFuIGltYWdl"]), "img2img", "payload.init_images.0"),
    (txt2img(init_images=[PNG], mask="data:image/png;base64,bm90IGFuIGltYWdl"), "img2img", "payload.mask"),
    (txt2img(init_images=[PNG, "%%%"]), "img2img", "payload.init_images.1"),
    (txt2img(alwayson_scripts={"controlnet": {"args": [{"enabled": False}, {
        "enabled": True, "model": "cn", "image": "data:image/png;base64,bm90IGFuIGltYWdl"}]}}), "txt2img",
     "payload.alwayson_scripts.controlnet.args.1.image"),
])
def test_an_image_string_that_is_no_image_is_a_400_naming_its_path(gateway, user_key, endpoint, checkpoint,
                                                                    ready_model, payload, task, field):
    ready_model("cn", "controlnet")

    reply = submit(gateway, user_key, payload, task=task)

    assert reply.status == 400, reply.body
    assert reply.body["field"] == field and "the image" in reply.message


def test_a_preprocessor_without_its_annotator_weights_is_a_400_naming_them(gateway, user_key, endpoint, checkpoint,
                                                                           ready_model, aws, monkeypatch):
    from lambdas.data.aws import reset_clients

    ready_model("cn", "controlnet")
    unit = {"enabled": True, "module": "depth", "model": "cn", "image": PNG}
    payload = txt2img(alwayson_scripts={"controlnet": {"args": [unit, {**unit, "module": "canny"}]}})

    refused = submit(gateway, user_key, payload)

    assert refused.status == 400
    assert refused.body["field"] == "payload.alwayson_scripts.controlnet.args.0.module"
    assert "'depth_midas' needs the annotator model(s) dpt_hybrid-midas-501f0c75" in refused.message

    ready_model("dpt_hybrid-midas-501f0c75", "annotator")
    assert submit(gateway, user_key, payload).status == 202

    openpose = txt2img(alwayson_scripts={"controlnet": {"args": [{**unit, "module": "openpose"}]}})
    assert submit(gateway, user_key, openpose).status == 400
    monkeypatch.setenv("SDCLOUD_BAKED_ANNOTATORS", "all")  # an image built with BAKE_ANNOTATORS=1
    reset_clients()
    assert submit(gateway, user_key, openpose).status == 202


def test_an_img2img_unit_without_an_image_reaches_the_container_without_one(gateway, user_key, endpoint, checkpoint,
                                                                            ready_model, aws):
    ready_model("cn", "controlnet")
    unit = {"enabled": True, "module": "canny", "model": "cn", "image": "", "mask": None}
    payload = txt2img(init_images=[PNG], alwayson_scripts={"ControlNet": {"args": [unit]}})

    reply = submit(gateway, user_key, payload, task="img2img")

    assert reply.status == 202, reply.body
    assert stored_payload(aws, reply.body["inference"]["id"]) == payload  # the container parses it as we did


def test_an_uploaded_payload_keeps_its_warnings(gateway, user_key, endpoint, checkpoint):
    created = submit(gateway, user_key, payload_upload=True)
    job_id = created.body["inference"]["id"]
    assert requests.put(created.body["payload_upload_url"], data=json.dumps(txt2img(save_images=True)),
                        timeout=30).status_code == 200

    started = gateway.post(f"/inferences/{job_id}/start", key=user_key)

    assert started.status == 202
    assert [w["field"] for w in started.body["inference"]["warnings"]] == ["payload.save_images"]
    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["warnings"][0]["field"] == (
        "payload.save_images")
